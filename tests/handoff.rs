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

/// The Markdown between `## Getting started` (on a French sheet `## Pour bien démarrer`)
/// and the next `## ` heading.
fn getting_started(md: &str) -> String {
    let start = md
        .find("## Getting started")
        .or_else(|| md.find("## Pour bien démarrer"))
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
    // Its picture is linked from where the sheet lies, so that it shows when opened there.
    assert!(
        gs1.contains("![Printing](../../templates/guides/printing.svg)"),
        "{gs1}"
    );
    assert!(
        lab.site
            .file(".deskready/handoff/../../templates/guides/printing.svg")
            .exists()
    );
    assert!(
        md1.contains("*Handoff sheet version 1 for LAP-0001.*"),
        "{md1}"
    );
    // The base laptop's sheet: no engineering material, and in French, headings too (the
    // site's French version of the sheet's template).
    let md3 = lab.site.read(".deskready/handoff/LAP-0003.md");
    for heading in [
        "# Votre ordinateur portable, Chen Wei\n",
        "\n## Logiciels installés pour vous\n",
        "\n## Pour bien démarrer\n",
        "\n## Besoin d'aide ?\n",
    ] {
        assert!(md3.contains(heading), "{heading}:\n{md3}");
    }
    assert!(!md3.contains("## Software installed for you"), "{md3}");
    assert!(md1.contains("\n## Software installed for you\n"), "{md1}");
    let gs3 = getting_started(&md3);
    assert_eq!(
        titles(&gs3),
        ["Obtenir de l'aide", "Imprimer", "Votre première connexion"]
    );
    assert!(gs3.contains("Connectez-vous en tant que `cwei`"), "{gs3}");
    assert_ne!(gs1, gs3);

    // The HTML page is in the sheet's language, titled with the sheet's own heading.
    let html3 = lab.site.read(".deskready/handoff/LAP-0003.html");
    assert!(html3.contains("<html lang=\"fr\">"), "{html3}");
    assert!(
        html3.contains("<title>Votre ordinateur portable, Chen Wei (LAP-0003)</title>"),
        "{html3}"
    );
    // The HTML prints: print rules, images embedded, no empty header row, local time.
    let html = lab.site.read(".deskready/handoff/LAP-0001.html");
    assert!(html.contains("<html lang=\"en\">"), "{html}");
    assert!(
        html.contains("<title>Your laptop, Amira Haddad (LAP-0001)</title>"),
        "{html}"
    );
    assert!(
        html.contains("@media print") && html.contains("@page"),
        "{html}"
    );
    assert!(!html.contains("<th></th>"), "an empty table header row");
    assert!(html.contains("<h3>Git and the code server</h3>"), "{html}");
    assert!(html.contains("src=\"data:image/svg+xml;base64,"), "{html}");
    assert!(
        !html.contains("src=\"templates/guides/"),
        "images are embedded"
    );
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
        "image: templates/guides/git.svg",
        "image: templates/guides/gti.svg",
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
    let image = site.file("templates/guides/gti.svg");
    assert!(
        err.contains(&format!(
            "error: profiles/laptop-engineering.yaml:20:7: resources[1].guide.image: image `templates/guides/gti.svg` does not exist in the site (looked for {})\n",
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
    // A guide's text is rendered for every device that shows it, in validate already.
    let site = SiteCopy::example();
    site.edit(
        "profiles/laptop-engineering.yaml",
        "Git already knows you as {{ assignee.email }}.",
        "Git already knows you as {{ assignee.mail }}.",
    );
    let err = site.test().args(["validate"]).code(2).stderr();
    assert!(
        err.contains("error: profiles/laptop-engineering.yaml:15:5: resources[1].guide: guide `Git and the code server`: in `{{ assignee.mail }}`: field `mail` is not defined"),
        "{err}"
    );
    assert!(err.contains("(rendering for LAP-0001 and 4 more)"), "{err}");
    // A person's language is a language code.
    let site = SiteCopy::example();
    site.test()
        .args(["assign", "LAP-0001", "--to", "Amira Haddad", "--desk", "3-01", "--language", "French"])
        .code(2)
        .stderr_has("--language: `French` is not a language code; expected one such as `fr`, `de` or `pt-BR`");
    site.test()
        .args([
            "assign",
            "LAP-0001",
            "--to",
            "Amira Haddad",
            "--desk",
            "3-01",
            "--language",
            "fr",
        ])
        .success();
    assert!(
        site.read("inventory/assignments.yaml")
            .contains("language: fr")
    );
}

/// A date `days` from today (this machine's calendar), as `YYYY-MM-DD`.
fn date_in(days: i64) -> String {
    let today = jiff::Zoned::now().date();
    today
        .checked_add(jiff::Span::new().days(days))
        .unwrap()
        .to_string()
}

fn row<'a>(rows: &'a serde_json::Value, tag: &str) -> &'a serde_json::Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["device"] == tag)
        .unwrap_or_else(|| panic!("{tag} not in {rows}"))
}

fn devices(rows: &serde_json::Value) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["device"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn acceptance_return_repairs_and_warranty_are_on_record() {
    let site = SiteCopy::example();
    // Deliveries are due for acceptance at once; three laptops with a warranty on record.
    site.edit(
        "inventory/groups.yaml",
        "  audit_due_days: 30\n",
        "  audit_due_days: 30\n  accept_within_days: 0\n",
    );
    let soon = date_in(30);
    let later = date_in(400);
    site.edit(
        "inventory/laptops.yaml",
        "    serial: PF400002\n",
        &format!(
            "    serial: PF400002\n    purchase_date: 2024-05-02\n    warranty_until: {soon}\n    supplier: Lenovo Direct\n    order: PO-7781\n"
        ),
    );
    site.edit(
        "inventory/laptops.yaml",
        "    serial: PF400004\n",
        "    serial: PF400004\n    purchase_date: 2021-02-01\n    warranty_until: 2024-01-31\n    supplier: Dell\n",
    );
    site.edit(
        "inventory/laptops.yaml",
        "    serial: PF400005\n",
        &format!("    serial: PF400005\n    warranty_until: {later}\n"),
    );
    let lab = LabSite::up(site);
    for tag in ["LAP-0001", "LAP-0002"] {
        lab.test().args(["configure", tag]).success();
    }

    // Acceptance of a device not delivered is refused, saying why.
    lab.test()
        .args(["accept", "LAP-0001", "--by", "Amira Haddad"])
        .code(3)
        .stderr_is("refused: LAP-0001 is not delivered (it is configured); only a device handed over with its sheet can be accepted: deskready deliver LAP-0001\n");
    lab.test().args(["deliver", "LAP-0001"]).success();
    // No browser that prints: the delivery happens all the same, and says why no PDF.
    lab.test()
        .env("DESKREADY_BROWSER", "/bin/false")
        .args(["deliver", "LAP-0002", "--accepted-by", "Bruno Costa"])
        .success()
        .stdout_has("accepted by Bruno Costa (sheet v1)\n")
        .stderr_is(
            "warning: no PDF of the handoff sheet: /bin/false wrote no PDF (exit status: 1)\n",
        );
    assert!(!lab.site.file(".deskready/handoff/LAP-0002.pdf").exists());
    assert!(lab.site.file(".deskready/handoff/LAP-0002.html").exists());
    let leftovers: Vec<String> = std::fs::read_dir(lab.site.file(".deskready/handoff"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".print-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "the browser's work directories stay: {leftovers:?}"
    );

    let status = |args: &[&str]| {
        let mut all = vec!["--format", "json", "status"];
        all.extend_from_slice(args);
        lab.test().args(all).success().json()
    };
    assert_eq!(devices(&status(&["--unaccepted"])), ["LAP-0001"]);
    assert_eq!(
        devices(&status(&["--unaccepted", "--older-than", "0d"])),
        ["LAP-0001"]
    );
    assert!(devices(&status(&["--unaccepted", "--older-than", "7d"])).is_empty());
    // An empty list says what it means.
    lab.test()
        .args(["status", "--unaccepted", "--older-than", "7d"])
        .success()
        .stdout_has(
            "\nno delivered device has waited 7 days or more for its person's acceptance\n",
        );
    lab.test()
        .args(["status", "--unaccepted", "--older-than", "a week"])
        .code(2)
        .stderr_has("`a week` is not a number of days; expected such as 7d, 2w or 90d");
    let unaccepted = lab
        .test()
        .args(["status", "--unaccepted"])
        .success()
        .stdout();
    assert!(
        unaccepted.contains("LAP-0001  delivered  Amira Haddad  sheet v1 delivered 20")
            && unaccepted.contains("(0 days ago), not accepted"),
        "{unaccepted}"
    );
    let report = lab
        .test()
        .args(["--format", "json", "report"])
        .success()
        .json();
    assert_eq!(
        devices(&report["unaccepted"]),
        ["LAP-0001"],
        "{}",
        report["unaccepted"]
    );

    // The person accepts, with a signature: digest and version on record.
    lab.test()
        .args([
            "accept",
            "LAP-0001",
            "--by",
            "Amira Haddad",
            "--signature",
            "/nonexistent/sig.png",
        ])
        .code(2)
        .stderr_has(
            "error: cannot read the signature /nonexistent/sig.png: No such file or directory",
        );
    lab.site.write("signature.png", "a scanned signature");
    let sig = lab.site.file("signature.png");
    let acc = lab
        .test()
        .args(["accept", "LAP-0001", "--by", "Amira Haddad", "--signature"])
        .arg(&sig)
        .success()
        .stdout();
    assert!(
        acc.starts_with("LAP-0001: accepted by Amira Haddad (handoff sheet v1, sha256:"),
        "{acc}"
    );
    assert!(
        lab.site
            .file(".deskready/handoff/LAP-0001.v1.signature.png")
            .exists()
    );
    let again = lab
        .test()
        .args(["accept", "LAP-0001", "--by", "Amira Haddad"])
        .code(3)
        .stderr();
    // When it was accepted is in local time, as people read times (`2026-11-27 00:25:19`).
    let when = again
        .strip_prefix(
            "refused: LAP-0001's handoff sheet v1 was already accepted by Amira Haddad at ",
        )
        .and_then(|w| w.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("{again}"));
    assert!(
        when.len() == 19 && when.starts_with("20") && when.as_bytes()[10] == b' ',
        "{again}"
    );
    assert!(devices(&status(&["--unaccepted"])).is_empty());
    let st = status(&[]);
    assert_eq!(
        row(&st, "LAP-0001")["handoff"]["accepted_by"],
        "Amira Haddad"
    );
    assert_eq!(
        row(&st, "LAP-0002")["handoff"]["accepted_by"],
        "Bruno Costa"
    );
    let html_digest = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(
            std::fs::read(lab.site.file(".deskready/handoff/LAP-0001.html")).unwrap(),
        ))
    };

    // Given back, in a stated condition.
    lab.test()
        .args([
            "return",
            "LAP-0001",
            "--by",
            "Amira Haddad",
            "--condition",
            "scratched lid",
        ])
        .success()
        .stdout_has("LAP-0001: returned by Amira Haddad, condition: scratched lid;");

    // A malformed cost is refused and nothing changes; a full repair is on record.
    lab.test()
        .args(["repair", "LAP-0001", "--fault", "cracked hinge", "--cost", "120,50 EUR"])
        .code(2)
        .stderr_is("error: --cost: `120,50 EUR` is not a cost; expected an amount with at most two decimals and a currency code, such as `120.50 EUR`\n");
    assert_eq!(row(&status(&[]), "LAP-0001")["stage"], "received");
    lab.test()
        .args([
            "repair",
            "LAP-0001",
            "--fault",
            "cracked hinge",
            "--parts",
            "hinge,screws",
            "--ticket",
            "DELL-4711",
            "--rma",
            "RMA-77",
            "--cost",
            "120.50 EUR",
            "--technician",
            "Sam Diaz",
        ])
        .success()
        .stdout_is("LAP-0001: in-repair (was received): cracked hinge; parts: hinge, screws; ticket DELL-4711; RMA RMA-77; cost 120.50 EUR; technician Sam Diaz\n");
    lab.test()
        .args([
            "receive",
            "LAP-0001",
            "--outcome",
            "hinge replaced under warranty",
        ])
        .success();
    let pending = [
        "hostname is the asset tag",
        "owner card names the assignee",
        "git knows the engineer",
    ];
    assert_eq!(
        row(&status(&[]), "LAP-0001")["checks_pending"],
        serde_json::json!(pending)
    );

    let h = lab
        .test()
        .args(["--format", "json", "history", "LAP-0001"])
        .success()
        .json();
    let handoff = &h["handoffs"][0];
    assert_eq!(handoff["version"], 1);
    assert_eq!(handoff["sheet_digest"], html_digest.as_str());
    assert_eq!(handoff["accepted_by"], "Amira Haddad");
    assert_eq!(handoff["signature_digest"].as_str().unwrap().len(), 64);
    assert_eq!(handoff["returned_by"], "Amira Haddad");
    assert_eq!(handoff["return_condition"], "scratched lid");
    let repair = &h["repairs"][0];
    assert_eq!(repair["fault"], "cracked hinge");
    assert_eq!(repair["parts"], serde_json::json!(["hinge", "screws"]));
    assert_eq!(
        (repair["ticket"].as_str(), repair["rma"].as_str()),
        (Some("DELL-4711"), Some("RMA-77"))
    );
    assert_eq!(
        (repair["cost_minor"].as_i64(), repair["currency"].as_str()),
        (Some(12050), Some("EUR"))
    );
    assert_eq!(repair["technician"], "Sam Diaz");
    assert_eq!(repair["outcome"], "hinge replaced under warranty");
    let kinds: Vec<&str> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .filter(|k| ["delivered", "accepted", "returned", "repair", "repaired"].contains(k))
        .collect();
    assert_eq!(
        kinds,
        ["delivered", "accepted", "returned", "repair", "repaired"]
    );

    // The next configure runs the checks again; those that pass are done with.
    lab.test().args(["configure", "LAP-0001"]).success();
    assert!(
        row(&status(&[]), "LAP-0001")
            .get("checks_pending")
            .is_none()
    );
    let text = lab.test().args(["history", "LAP-0001"]).success().stdout();
    assert!(
        text.contains("after-repair ") && text.contains("passed again after repair: hostname is the asset tag, owner card names the assignee, git knows the engineer"),
        "{text}"
    );
    assert!(text.contains("\nrepairs:\nOPENED "), "{text}");
    assert!(text.contains("hinge replaced under warranty"), "{text}");

    // Warranty: expiring within 90 days, and out of warranty in the report.
    assert_eq!(
        devices(&status(&["--warranty-expiring", "90d"])),
        ["LAP-0002"]
    );
    assert_eq!(
        devices(&status(&["--warranty-expiring", "2w"])),
        Vec::<String>::new()
    );
    lab.test()
        .args(["status", "--warranty-expiring", "2w"])
        .success()
        .stdout_has("\nno device's warranty ends within 14 days\n");
    let w = row(&status(&[]), "LAP-0002")["warranty"].clone();
    assert_eq!(
        (w["until"].as_str(), w["days_left"].as_i64()),
        (Some(soon.as_str()), Some(30))
    );
    let text = lab
        .test()
        .args(["status", "--warranty-expiring", "90d"])
        .success()
        .stdout();
    assert!(
        text.contains(&format!("until {soon} (30 days left)")),
        "{text}"
    );
    let report = lab
        .test()
        .args(["--format", "json", "report"])
        .success()
        .json();
    assert_eq!(devices(&report["out_of_warranty"]), ["LAP-0004"]);
    assert_eq!(report["out_of_warranty"][0]["warranty_until"], "2024-01-31");
    assert_eq!(devices(&report["repairs"]), ["LAP-0001"]);
    assert!(devices(&report["unaccepted"]).is_empty());
    let html = lab.site.file("report.html");
    lab.test().args(["report", "--html"]).arg(&html).success();
    let page = std::fs::read_to_string(&html).unwrap();
    for id in [
        "repairs",
        "out-of-warranty",
        "repairs-LAP-0001",
        "no-unaccepted",
    ] {
        assert!(
            page.contains(&format!("id=\"{id}\"")),
            "no {id} in the report"
        );
    }
    assert!(page.contains("cost 120.50 EUR; technician Sam Diaz"));
    let devs = lab
        .test()
        .args(["--format", "json", "devices"])
        .success()
        .json();
    let d2 = devs
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["tag"] == "LAP-0002")
        .unwrap();
    assert_eq!(
        (d2["supplier"].as_str(), d2["order"].as_str()),
        (Some("Lenovo Direct"), Some("PO-7781"))
    );
}

#[test]
fn a_packing_list_gives_a_declared_device_the_purchase_facts_its_inventory_lacks() {
    let site = SiteCopy::example();
    site.edit(
        "inventory/laptops.yaml",
        "    serial: PF400002\n",
        "    serial: PF400002\n    supplier: Dell\n",
    );
    let laptops = site.read("inventory/laptops.yaml");
    let header = "asset_tag,serial,model,kind,supplier,Order Number,purchase_date,warranty_until\n";
    // A fact the inventory has, given otherwise: refused, nothing written.
    site.write(
        "delivery.csv",
        &format!("{header}LAP-0001,PF400001,Dell Latitude 7450,laptop,Dell,PO-7,2026-01-05,2029-01-04\nLAP-0002,PF400002,Lenovo ThinkPad T14 Gen 5,laptop,Lenovo Direct,PO-7,2026-01-05,2029-01-04\n"),
    );
    let csv = site.file("delivery.csv").display().to_string();
    site.test()
        .args(["receive", "--csv", &csv])
        .code(2)
        .stderr_has("with supplier Dell, but the delivery says Lenovo Direct; check the label, or correct the inventory\n");
    assert!(!site.file("inventory/assignments.yaml").exists());
    // As the inventory says: received, and what it lacks is kept (not in the hand-written
    // file).
    site.write(
        "delivery.csv",
        &format!("{header}LAP-0001,PF400001,Dell Latitude 7450,laptop,Dell,PO-7,2026-01-05,2029-01-04\nLAP-0002,PF400002,Lenovo ThinkPad T14 Gen 5,laptop,Dell,PO-7,,\n"),
    );
    site.test().args(["receive", "--csv", &csv]).success();
    assert_eq!(site.read("inventory/laptops.yaml"), laptops);
    let kept = site.read("inventory/assignments.yaml");
    assert!(kept.contains("warranty_until: 2029-01-04"), "{kept}");
    let device = |tag: &str| {
        let all = site
            .test()
            .args(["--format", "json", "devices"])
            .success()
            .json();
        all.as_array()
            .unwrap()
            .iter()
            .find(|d| d["tag"] == tag)
            .unwrap()
            .clone()
    };
    let d1 = device("LAP-0001");
    assert_eq!(
        (
            &d1["supplier"],
            &d1["order"],
            &d1["purchase_date"],
            &d1["warranty_until"]
        ),
        (
            &"Dell".into(),
            &"PO-7".into(),
            &"2026-01-05".into(),
            &"2029-01-04".into()
        ),
        "{d1}"
    );
    let d2 = device("LAP-0002");
    assert_eq!(
        (&d2["supplier"], &d2["order"]),
        (&"Dell".into(), &"PO-7".into()),
        "{d2}"
    );
    let st = site
        .test()
        .args(["--format", "json", "status"])
        .success()
        .json();
    assert_eq!(row(&st, "LAP-0001")["warranty"]["until"], "2029-01-04");
    let history = site.test().args(["history", "LAP-0001"]).success().stdout();
    assert!(
        history.contains(
            "(supplier, order, purchase_date, warranty_until kept in inventory/assignments.yaml)"
        ),
        "{history}"
    );
    // Assigned, then its assignment changed: the purchase facts stay.
    site.test()
        .args([
            "assign",
            "LAP-0001",
            "--to",
            "Bea Sousa",
            "--desk",
            "3-31",
            "--email",
            "bsousa@example.org",
        ])
        .success();
    site.test()
        .args(["assign", "LAP-0001", "--desk", "3-32"])
        .success();
    assert_eq!(device("LAP-0001")["warranty_until"], "2029-01-04");
    assert_eq!(device("LAP-0001")["location"]["desk"], "3-32");
}

#[test]
fn bad_purchase_dates_are_refused_in_the_inventory_and_in_packing_lists() {
    let site = SiteCopy::example();
    site.edit(
        "inventory/laptops.yaml",
        "    serial: PF400002\n",
        "    serial: PF400002\n    purchase_date: 2024-05-02\n    warranty_until: 2023-05-02\n",
    );
    site.edit(
        "inventory/laptops.yaml",
        "    serial: PF400004\n",
        "    serial: PF400004\n    warranty_until: 31/01/2024\n",
    );
    let err = site.test().args(["validate"]).code(2).stderr();
    assert!(
        err.contains("devices.LAP-0002.warranty_until: the warranty ends (2023-05-02) before the device was bought (2024-05-02)"),
        "{err}"
    );
    assert!(
        err.contains("devices.LAP-0004.warranty_until: `31/01/2024` is not a date; expected YYYY-MM-DD such as 2026-03-31"),
        "{err}"
    );
    let site = SiteCopy::example();
    site.write(
        "delivery.csv",
        "asset_tag,serial,model,kind,purchase_date,warranty_until,supplier,order\nLAP-0300,PF9,Dell Latitude 7450,laptop,2026-01-05,2029-01-04,Dell,PO-1\nLAP-0301,PF10,Dell Latitude 7450,laptop,2026-01-05,04/01/2029,Dell,PO-1\n",
    );
    let csv = site.file("delivery.csv").display().to_string();
    site.test()
        .args(["receive", "--csv", &csv])
        .code(2)
        .stderr_has(&format!("{csv}:3: column `warranty_until`: `04/01/2029` is not a date; expected YYYY-MM-DD such as 2026-03-31\n"));
    site.write(
        "delivery.csv",
        "asset_tag,serial,model,kind,purchase_date,warranty_until,supplier,order,profile,assignee,email,site,floor,desk\nLAP-0300,PF9,Dell Latitude 7450,laptop,2026-01-05,2029-01-04,Dell,PO-1,laptop-base,Ana Lima,ana@example.org,HQ,3,3-30\n",
    );
    site.test().args(["receive", "--csv", &csv]).success();
    let received = site.read("inventory/received.yaml");
    assert!(
        received.contains("warranty_until: 2029-01-04") && received.contains("order: PO-1"),
        "{received}"
    );
    let st = site
        .test()
        .args(["--format", "json", "status"])
        .success()
        .json();
    assert_eq!(row(&st, "LAP-0300")["warranty"]["until"], "2029-01-04");
}

#[test]
fn a_delivered_laptop_that_is_switched_off_stays_delivered_and_awaiting_acceptance() {
    let site = SiteCopy::example();
    site.edit(
        "inventory/groups.yaml",
        "  audit_due_days: 30\n",
        "  audit_due_days: 30\n  accept_within_days: 0\n",
    );
    let mut lab = LabSite::up(site);
    lab.test().args(["configure", "LAP-0001"]).success();
    lab.test().args(["deliver", "LAP-0001"]).success();
    let unaccepted = |lab: &LabSite| {
        lab.test()
            .args(["--format", "json", "status", "--unaccepted"])
            .success()
            .json()
    };
    assert_eq!(devices(&unaccepted(&lab)), ["LAP-0001"]);

    // Switched off at its desk: the configure cannot reach it and says so (exit code 1),
    // and the laptop is left as it was, delivered and awaiting its person's acceptance.
    // (`--now`: a delivered laptop is configured in its maintenance window, evenings and
    // nights, unless told otherwise; the test runs at any hour.)
    lab.lab.stop_device("LAP-0001").unwrap();
    lab.test().args(["configure", "LAP-0001", "--now"]).code(1);
    let st = unaccepted(&lab);
    assert_eq!(devices(&st), ["LAP-0001"]);
    assert_eq!(row(&st, "LAP-0001")["stage"], "delivered");
    lab.test()
        .args(["history", "LAP-0001"])
        .success()
        .stdout_has("not reached, nothing changed; still delivered");

    // Switched on again: `--resume` redoes it (its last configure did not succeed), and
    // it is still delivered.
    lab.lab.start_device("LAP-0001").unwrap();
    lab.test()
        .args(["configure", "--resume", "--now"])
        .success()
        .stdout_has("LAP-0001");
    assert_eq!(row(&unaccepted(&lab), "LAP-0001")["stage"], "delivered");
}

#[test]
fn a_laptop_assigned_to_someone_else_after_its_configure_is_configured_again_before_delivery() {
    let lab = LabSite::up(SiteCopy::example());
    lab.test().args(["configure", "LAP-0003"]).success();
    // Configured for Chen Wei, then given to Pat Doe: said at once, and deliver waits.
    lab.test()
        .args([
            "assign",
            "LAP-0003",
            "--to",
            "Pat Doe",
            "--desk",
            "3-08",
            "--email",
            "pdoe@example.org",
        ])
        .success()
        .stdout_is("LAP-0003: assigned to Pat Doe (pdoe), desk 3-08\nnext: it was configured before this assignment; configure it again (deliver waits for it): deskready configure LAP-0003\n");
    lab.test()
        .args(["deliver", "LAP-0003"])
        .code(3)
        .stderr_has("LAP-0003 was assigned (to Pat Doe) at ")
        .stderr_has("after its last configure: its login, owner card and files are still the previous assignment's; configure it again first: deskready configure LAP-0003\n");
    assert!(!lab.site.file(".deskready/handoff/LAP-0003.md").exists());
    // Configured for Pat: delivered with Pat's login on the sheet.
    lab.test().args(["configure", "LAP-0003"]).success();
    lab.test().args(["deliver", "LAP-0003"]).success();
    let sheet = lab.site.read(".deskready/handoff/LAP-0003.md");
    assert!(sheet.contains("Sign in as `pdoe`"), "{sheet}");
    // Accepted by a colleague on Pat's behalf: recorded as given, and said.
    lab.test()
        .args(["accept", "LAP-0003", "--by", "Ines Moreau"])
        .success()
        .stdout_has("\nnote: Ines Moreau is not its assignee (Pat Doe); recorded as given\n");
    lab.test()
        .args(["history", "LAP-0003"])
        .success()
        .stdout_has("; not its assignee, Pat Doe");
    // At Pat's desk: another person only after a return; Pat's own details may change.
    lab.test()
        .args(["assign", "LAP-0003", "--to", "Sam Roe", "--email", "sroe@example.org"])
        .code(3)
        .stderr_has("LAP-0003 is delivered to Pat Doe; to give it to Sam Roe, record its return first (deskready return LAP-0003), then assign it\n");
    lab.test()
        .args(["assign", "LAP-0003", "--desk", "3-09"])
        .success()
        .stdout_has("LAP-0003: assignment of Pat Doe (pdoe) updated: desk 3-09\n");
}
