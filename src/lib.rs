//! deskready: takes IT hardware from received, through configured over SSH, to delivered.
//!
//! The library owns every capability; `src/main.rs` only turns [`cli::main`] into an exit code.
//! Layers, top down: `cli` (arguments and rendering) -> `ops` (use cases) -> `engine`,
//! `store`, `load`, `resolve`, `report` -> `model`; nothing below `cli` imports it.

pub mod audit;
pub mod cli;
pub mod engine;
pub mod handoff;
pub mod lab;
pub mod load;
pub mod model;
pub mod ops;
pub mod owned;
pub mod printer;
pub mod render;
pub mod report;
pub mod resolve;
pub mod secrets;
pub mod shell;
pub mod site;
pub mod store;
pub mod time;
pub mod transport;
pub mod words;

#[cfg(test)]
mod layers {
    //! The layer rules, checked on the sources: nothing below the CLI imports it, and the
    //! model imports nothing of ours.

    fn sources(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path.display().to_string(), text));
            }
        }
    }

    #[test]
    fn nothing_imports_the_cli_and_the_model_imports_nothing_of_ours() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        let cli = src.join("cli").display().to_string();
        let model = src.join("model").display().to_string();
        for (path, text) in &files {
            let code = text.lines().filter(|l| !l.trim_start().starts_with("//"));
            for line in code {
                if !path.starts_with(&cli)
                    && !path.ends_with("main.rs")
                    && !path.ends_with("lib.rs")
                {
                    assert!(
                        !line.contains("crate::cli"),
                        "{path} imports the CLI: {line}"
                    );
                }
                if path.starts_with(&model) {
                    assert!(
                        !line.contains("crate::") && !line.contains("super::super"),
                        "{path} imports outside the model: {line}"
                    );
                }
            }
        }
    }
}
