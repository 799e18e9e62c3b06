//! The PostgreSQL server of the storage tests: `KEYSCOPE_TEST_POSTGRES_URL` (`eval "$(bash script/postgres.sh)"`).
//! Without it the PostgreSQL half of a test is skipped with a notice, unless `KEYSCOPE_REQUIRE_POSTGRES=1` (CI),
//! where it fails.

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use keyscope::alloy::transports::http::reqwest::Url;
use sqlx::{ConnectOptions, Connection};

/// A new, empty database on the test server, as a URL; `None` (with a notice) when there is no server.
pub(crate) async fn fresh_database() -> Option<String> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let url = match std::env::var("KEYSCOPE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert!(
                std::env::var("KEYSCOPE_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "KEYSCOPE_REQUIRE_POSTGRES=1 but KEYSCOPE_TEST_POSTGRES_URL is not set: run eval \"$(bash script/postgres.sh)\""
            );
            eprintln!("notice: KEYSCOPE_TEST_POSTGRES_URL is not set: the PostgreSQL half of this test is skipped (eval \"$(bash script/postgres.sh)\")");
            return None;
        }
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "keyscope_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let options = sqlx::postgres::PgConnectOptions::from_str(&url)
        .unwrap_or_else(|e| unreachable!("KEYSCOPE_TEST_POSTGRES_URL: {e}"));
    let mut connection = options
        .connect()
        .await
        .unwrap_or_else(|e| unreachable!("KEYSCOPE_TEST_POSTGRES_URL: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut connection)
        .await
        .unwrap_or_else(|e| unreachable!("CREATE DATABASE {name}: {e}"));
    let _ = connection.close().await;
    let mut url = Url::parse(&url).unwrap_or_else(|e| unreachable!("{e}"));
    url.set_path(&name);
    Some(url.to_string())
}
