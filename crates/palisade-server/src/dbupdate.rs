//! The scheduled database update (`db_update:`): `palisade db update` inside the server, on a
//! timer. The new file is written as the CLI writes it (under the writers' lock, renamed into
//! place, a shrink refused); the reload poll then loads it and, with a store, the stored images
//! are matched again. A failed update leaves the old database deciding and says why (and, with
//! a store, writes a `db.update_failed` event).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use palisade_store::NewEvent;

use crate::config::{DbUpdateSettings, Registries};
use crate::fleet::Fleet;
use crate::http::ErrorSink;

/// How long after start the first update runs.
pub const FIRST_RUN_AFTER: Duration = Duration::from_secs(5);

/// Runs forever: one update `FIRST_RUN_AFTER` the start, then one per interval.
pub async fn run(
    db: PathBuf,
    settings: DbUpdateSettings,
    registries: Registries,
    fleet: Option<Arc<Fleet>>,
    events: ErrorSink,
) {
    tokio::time::sleep(FIRST_RUN_AFTER).await;
    loop {
        let options = palisade_vulndb::update::UpdateOptions {
            feeds: settings.feeds.clone(),
            mirror: settings.mirror.clone(),
            http: palisade_image::HttpOptions {
                insecure: registries.insecure.clone(),
                ca_file: registries.ca_file.clone(),
                deadline: Some(settings.timeout),
            },
            ..palisade_vulndb::update::UpdateOptions::default()
        };
        let path = db.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            palisade_vulndb::update::update(&path, &options, &mut |_| {})
        })
        .await;
        let event = match outcome {
            Ok(Ok(report)) => match &report.rebuilt {
                None => {
                    events("database update: every feed is current");
                    None
                }
                Some(r) => {
                    let refreshed = r.refreshed();
                    events(&format!(
                        "database updated: {} advisories, feeds refreshed: {}",
                        r.status.advisories,
                        if refreshed.is_empty() {
                            "none".to_owned()
                        } else {
                            refreshed.join(", ")
                        }
                    ));
                    Some(NewEvent {
                        kind: "db.updated".into(),
                        digest: None,
                        subject: format!(
                            "vulnerability database updated: {} advisories ({} refreshed)",
                            r.status.advisories,
                            refreshed.len()
                        ),
                        detail: serde_json::json!({
                            "advisories": r.status.advisories,
                            "built": r.status.built.as_ref().map(ToString::to_string),
                            "refreshed": refreshed,
                            "from_cache": r.from_cache(),
                            "kept": r.kept,
                        }),
                    })
                }
            },
            Ok(Err(e)) => {
                events(&format!(
                    "database update failed (the previous database keeps deciding): {e}"
                ));
                Some(NewEvent {
                    kind: "db.update_failed".into(),
                    digest: None,
                    subject: format!("vulnerability database update failed: {e}"),
                    detail: serde_json::json!({"error": e.to_string()}),
                })
            }
            Err(e) => {
                events(&format!("database update did not finish: {e}"));
                None
            }
        };
        if let (Some(fleet), Some(event)) = (&fleet, event) {
            let fleet = Arc::clone(fleet);
            let _ = tokio::task::spawn_blocking(move || fleet.emit(&[event])).await;
        }
        tokio::time::sleep(settings.interval).await;
    }
}
