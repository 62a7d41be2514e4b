//! Scoring: a matcher finding becomes a [`Finding`] with its severity (the distro's rating,
//! else the advisory's CVSS v3/v4 vector, else NVD's score for a CVE alias), EPSS and KEV.

use palisade_vulndb::{Database, Enrichment, SeverityKind};

use crate::error::{Error, Result};
use crate::finding::{Cvss, CvssSource, Epss, Finding, Package, Severity, SeveritySource, Status};

/// Scores a finding and looks up its KEV flag and EPSS score.
pub(crate) fn score(db: &Database, f: palisade_vulndb::Finding) -> Result<Finding> {
    let own = f.severity.as_ref().and_then(|s| {
        matches!(s.kind, SeverityKind::CvssV3 | SeverityKind::CvssV4)
            .then(|| s.score.parse::<cvss::Cvss>().ok())
            .flatten()
            .map(|v| Cvss {
                score: v.score(),
                vector: s.score.clone(),
                source: CvssSource::Advisory,
            })
    });
    let mut nvd: Option<Cvss> = None;
    let mut kev = false;
    let mut epss: Option<Epss> = None;
    let cves = std::iter::once(&f.advisory_id)
        .chain(&f.aliases)
        .filter(|id| id.starts_with("CVE-"));
    for cve in cves {
        let Some(e) = db.enrichment(cve).map_err(|source| Error::DbRead {
            what: format!("reading enrichment for {cve}"),
            source: Box::new(source),
        })?
        else {
            continue;
        };
        kev |= e.kev.is_some();
        if let Some(s) = &e.epss
            && epss.as_ref().is_none_or(|x| s.score > x.score)
        {
            epss = Some(Epss {
                score: s.score,
                percentile: s.percentile,
            });
        }
        if let Some(c) = nvd_score(&e)
            && nvd.as_ref().is_none_or(|n| c.score > n.score)
        {
            nvd = Some(c);
        }
    }
    let cvss = own.or(nvd);
    let vendor = f
        .vendor_severity
        .and_then(|v| Severity::from_vendor(&v.rating).map(|l| (l, v)));
    let (severity, severity_source) = match (vendor, &cvss) {
        (Some((level, v)), _) => (
            level,
            SeveritySource::Vendor {
                vendor: v.vendor,
                rating: v.rating,
            },
        ),
        (None, Some(c)) => (
            Severity::from_score(Some(c.score)),
            match c.source {
                CvssSource::Advisory => SeveritySource::AdvisoryCvss,
                CvssSource::Nvd(_) => SeveritySource::NvdCvss,
            },
        ),
        (None, None) => (Severity::Unknown, SeveritySource::None),
    };
    let p = std::sync::Arc::unwrap_or_clone(f.package);
    Ok(Finding {
        id: f.advisory_id,
        aliases: f.aliases,
        package: Package {
            name: p.name,
            version: p.version,
            kind: p.ecosystem.to_string(),
            purl: p.purl,
            source_package: p.source,
            layer: p.layer.map(|l| l.index),
        },
        severity,
        severity_source,
        cvss,
        epss,
        status: Status(f.status),
        fixed_versions: f.fixed_versions,
        kev,
        why: f.why,
        vex: None,
        evidence: None,
    })
}

/// NVD's primary v3.x score, else the highest v3.x score, else the preferred rating.
fn nvd_score(e: &Enrichment) -> Option<Cvss> {
    let v3 = |s: &&palisade_vulndb::CvssScore| s.version.starts_with("3.");
    let pick = e
        .cvss
        .iter()
        .filter(v3)
        .find(|s| s.primary)
        .or_else(|| {
            e.cvss
                .iter()
                .filter(v3)
                .max_by(|a, b| a.base_score.total_cmp(&b.base_score))
        })
        .or_else(|| e.preferred())?;
    Some(Cvss {
        score: pick.base_score,
        vector: pick.vector.clone(),
        source: CvssSource::Nvd(e.cve.clone()),
    })
}
