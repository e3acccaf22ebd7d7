//! Pure types of the domain.
