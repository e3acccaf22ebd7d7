//! The person at the desk, against a lab: the handoff sheet's getting-started section
//! follows what each device got (its profile's and its resources' guides, in the person's
//! language), prints on paper (print CSS, a PDF rendered and checked not blank); guides
//! whose image is missing are refused when the site loads.

use crate::support::{LabSite, SiteCopy};

/// How many pixels of a PNG are not (near) white.
fn inked_pixels(png_path: &std::path::Path) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = info.color_type.samples();
    buf[..info.buffer_size()]
        .chunks(step)
        .filter(|px| px.iter().take(3).any(|c| *c < 200))
        .count()
}

/// The text of a PDF (`pdftotext`, from poppler-utils).
fn pdf_text(pdf: &std::path::Path) -> String {
    let out = std::process::Command::new("pdftotext")
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils, installed by scripts/test)");
    assert!(out.status.success(), "pdftotext {}", pdf.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The Markdown between `## Getting started` and the next `## ` heading.
fn getting_started(md: &str) -> String {
    let start = md
        .find("## Getting started")
        .expect("a getting-started section");
    let rest = &md[start + 3..];
    let end = rest.find("\n## ").map_or(rest.len(), |i| i + 1);
    rest[..end].to_string()
}

#[test]
fn each_sheet_teaches_what_its_device_got_and_prints_to_a_pdf() {
    let site = SiteCopy::example();
    // Chen Wei reads French: the guides that have it are in French on his sheet.
    site.edit(
        "inventory/laptops.yaml",
        "assignee: { name: Chen Wei, username: cwei, email: cwei@example.org }",
        "assignee: { name: Chen Wei, username: cwei, email: cwei@example.org, language: fr }",
    );
    let lab = LabSite::up(site);
    for tag in ["LAP-0001", "LAP-0003"] {
        lab.test().args(["configure", tag]).success();
    }
    let eng = lab.test().args(["deliver", "LAP-0001"]).success();
    let pdf = lab.site.file(".deskready/handoff/LAP-0001.pdf");
    assert!(
        eng.stdout()
            .contains(&format!("handoff sheet: {}\n", pdf.display())),
        "{}",
        eng.stdout()
    );
    let base = lab
        .test()
        .args([
            "--format", "json", "deliver", "LAP-0003", "--paper", "letter",
        ])
        .success()
        .json();
    assert_eq!(
        base["guides"],
        serde_json::json!(["Obtenir de l'aide", "Imprimer", "Votre première connexion"])
    );

    // The engineer's sheet: the base laptop's guides and the engineering ones, rendered
    // for this device (its printers, its login, its git server).
    let md1 = lab.site.read(".deskready/handoff/LAP-0001.md");
    let gs1 = getting_started(&md1);
    let titles = |gs: &str| -> Vec<String> {
        gs.lines()
            .filter_map(|l| l.strip_prefix("### ").map(str::to_string))
            .collect()
    };
    assert_eq!(
        titles(&gs1),
        [
            "Getting help",
            "Your workspace",
            "Printing",
            "Your first login",
            "Git and the code server"
        ]
    );
    assert!(
        gs1.contains("choose a printer of floor 3: floor3-bay1, floor3-bay2, floor3-room."),
        "{gs1}"
    );
    assert!(gs1.contains("Sign in as `ahaddad`"), "{gs1}");
    assert!(
        gs1.contains("Clone your team's projects from git.eng.example.org into /opt/engineering."),
        "{gs1}"
    );
    assert!(gs1.contains("![Printing](guides/printing.svg)"), "{gs1}");
    // The base laptop's sheet: no engineering material, and in French.
    let gs3 = getting_started(&lab.site.read(".deskready/handoff/LAP-0003.md"));
    assert_eq!(
        titles(&gs3),
        ["Obtenir de l'aide", "Imprimer", "Votre première connexion"]
    );
    assert!(gs3.contains("Connectez-vous en tant que `cwei`"), "{gs3}");
    assert_ne!(gs1, gs3);

    // The HTML prints: print rules, images embedded, no empty header row, local time.
    let html = lab.site.read(".deskready/handoff/LAP-0001.html");
    assert!(
        html.contains("@media print") && html.contains("@page"),
        "{html}"
    );
    assert!(!html.contains("<th></th>"), "an empty table header row");
    assert!(html.contains("<h3>Git and the code server</h3>"), "{html}");
    assert!(html.contains("src=\"data:image/svg+xml;base64,"), "{html}");
    assert!(!html.contains("src=\"guides/"), "images are embedded");
    assert!(
        md1.contains(" Europe/London by test-csp |"),
        "handed over in the laptops' time zone: {md1}"
    );

    // The PDFs: on the paper asked for, with the sheet's text, not blank.
    let text = pdf_text(&pdf);
    for needle in [
        "Your laptop, Amira Haddad",
        "Getting started",
        "Git and the code server",
    ] {
        assert!(text.contains(needle), "{needle} not in the PDF: {text}");
    }
    let info = |p: &std::path::Path| {
        let out = std::process::Command::new("pdfinfo")
            .arg(p)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(info(&pdf).contains("(A4)"), "{}", info(&pdf));
    let pdf3 = lab.site.file(".deskready/handoff/LAP-0003.pdf");
    assert!(info(&pdf3).contains("(letter)"), "{}", info(&pdf3));
    assert!(pdf_text(&pdf3).contains("Votre première connexion"));
    let prefix = lab.site.file("page");
    let out = std::process::Command::new("pdftoppm")
        .args(["-png", "-r", "40", "-f", "1", "-l", "1"])
        .arg(&pdf)
        .arg(&prefix)
        .output()
        .expect("pdftoppm (poppler-utils)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_dir(lab.site.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("page"))
        .expect("a rendered page");
    let inked = inked_pixels(&page);
    assert!(
        inked > 500,
        "the PDF's first page looks blank ({inked} inked pixels)"
    );
}

#[test]
fn a_guide_whose_image_is_missing_is_refused_where_it_is_written() {
    let site = SiteCopy::example();
    site.edit(
        "profiles/laptop-engineering.yaml",
        "image: guides/git.svg",
        "image: guides/gti.svg",
    );
    site.edit(
        "profiles/laptop-base.yaml",
        "      - { title: Service desk portal, url: \"https://help.example.org\" }",
        "      - { title: Service desk portal, url: \"help.example.org\" }",
    );
    site.edit(
        "profiles/laptop-base.yaml",
        "after_repair: [hostname is the asset tag,",
        "after_repair: [hostname is the asset tga,",
    );
    let run = site.test().args(["validate"]).code(2);
    let err = run.stderr();
    let image = site.file("guides/gti.svg");
    assert!(
        err.contains(&format!(
            "error: profiles/laptop-engineering.yaml:20:7: resources[1].guide.image: image `guides/gti.svg` does not exist in the site (looked for {})\n",
            image.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(
            ": guide[0].links[0].url: `help.example.org` is not a link a reader can follow;"
        ),
        "{err}"
    );
    assert!(
        err.contains(": after_repair[0]: unknown verify check `hostname is the asset tga`; did you mean `hostname is the asset tag`?"),
        "{err}"
    );
    // Deliver refuses the same site before changing anything.
    site.test().args(["deliver", "LAP-0001"]).code(2);
}
