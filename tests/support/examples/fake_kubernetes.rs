//! The Kubernetes API-server stand-in as a standalone process, for bench/auth.py: it starts
//! [`FakeKubernetes`], writes what a broker needs to talk to it (URL, CA, issuer, JWKS URL,
//! reviewer JWT) and N projected tokens for `bench/app` into a directory, keeps
//! `stats.json` (TokenReview and JWKS counts) up to date there, and serves until SIGTERM or
//! Ctrl-C.
//!
//! `cargo run --release -p lessor-test-support --example fake_kubernetes -- DIR N`

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use lessor_test_support::kubernetes::{FakeKubernetes, TokenSpec};
use tokio::signal::unix::{SignalKind, signal};

const NAMESPACE: &str = "bench";
const SERVICE_ACCOUNT: &str = "app";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(count)) = (args.next(), args.next()) else {
        bail!("usage: fake_kubernetes DIR N");
    };
    let dir = PathBuf::from(dir);
    let count: usize = count.parse().context("N must be a number")?;
    std::fs::create_dir_all(&dir).context("creating the output directory")?;

    let fake = FakeKubernetes::start().await?;
    let mut tokens = String::new();
    for _ in 0..count {
        // TokenSpec::new: bound to a fresh pod, 1 h, audience = the issuer.
        tokens.push_str(&fake.mint(&TokenSpec::new(NAMESPACE, SERVICE_ACCOUNT)));
        tokens.push('\n');
    }
    write(&dir, "tokens.txt", &tokens)?;
    write(&dir, "ca.pem", &fake.ca_pem())?;
    write(&dir, "issuer", &fake.issuer())?;
    write(&dir, "jwks_url", &fake.jwks_url())?;
    write(&dir, "reviewer.jwt", &fake.reviewer_token())?;
    write_stats(&dir, &fake)?;
    // Written last: its presence tells the caller everything else is in place.
    write(&dir, "url", &fake.url())?;

    let mut term = signal(SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => write_stats(&dir, &fake)?,
        }
    }
    write_stats(&dir, &fake)?;
    Ok(())
}

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    // Via a rename so a reader never sees a half-written file.
    let part = dir.join(format!("{name}.part"));
    std::fs::write(&part, text).with_context(|| format!("writing {name}"))?;
    std::fs::rename(&part, dir.join(name)).with_context(|| format!("renaming {name}"))?;
    Ok(())
}

fn write_stats(dir: &Path, fake: &FakeKubernetes) -> anyhow::Result<()> {
    let stats = serde_json::json!({
        "token_reviews": fake.token_reviews(),
        "jwks_fetches": fake.jwks_fetches(),
    });
    write(dir, "stats.json", &stats.to_string())
}
