//! YAML site files to a validated model.
