//! `kubicle image import|ls|rm|prune`: the node's image store (`<data-dir>/image-store/`),
//! usable while `kubicle up` runs (the store has its own writer lock, not the data dir's);
//! and the import at start of the archives dropped in `<data-dir>/images/`.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::{ImageArgs, ImageCommand};

/// The store of a data dir.
pub(crate) fn store_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("image-store")
}

/// Imports the archives of `<data-dir>/images/` that changed since their last import, and
/// logs what it did.
pub(crate) fn import_drop_ins(data_dir: &Path) {
    let dir = data_dir.join("images");
    if !dir.is_dir() {
        return;
    }
    let store = match images::Store::open(&store_dir(data_dir)) {
        Ok(store) => store,
        Err(e) => return tracing::error!(error = %e, "open the image store"),
    };
    for done in images::import_dir(&store, &dir, &images::ImportOptions::node()) {
        let file = done.file.display().to_string();
        match done.outcome {
            None => tracing::debug!(%file, "image archive imported before"),
            Some(Ok(names)) => {
                let names: Vec<String> = names.into_iter().map(|(name, _)| name).collect();
                tracing::info!(%file, ?names, "image archive imported");
            }
            Some(Err(e)) => tracing::warn!(%file, error = %e, "image archive not imported"),
        }
    }
}

/// Runs an image command and returns what it prints.
pub(crate) fn run(args: ImageArgs) -> anyhow::Result<String> {
    let store = images::Store::open(&store_dir(&args.data_dir))?;
    match args.command {
        ImageCommand::Import { files, base_name } => {
            let options = images::ImportOptions {
                base_name,
                ..images::ImportOptions::node()
            };
            import(&store, &files, &options)
        }
        ImageCommand::Pull { image, creds } => pull(&store, &args.data_dir, &image, creds),
        ImageCommand::Ls => list(&store),
        ImageCommand::Rm { names } => remove(&store, &names),
        ImageCommand::Prune => {
            let removed = store.prune(|_| false)?;
            Ok(format!("Deleted {} unused blobs\n", removed.len()))
        }
    }
}

fn import(
    store: &images::Store,
    files: &[PathBuf],
    options: &images::ImportOptions,
) -> anyhow::Result<String> {
    let mut out = String::new();
    for file in files {
        let reader: Box<dyn Read> = if file.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(std::fs::File::open(file).with_context(|| format!("open {}", file.display()))?)
        };
        let names = images::import(store, reader, options)
            .with_context(|| format!("import {}", file.display()))?;
        for (name, _) in names {
            out.push_str(&format!("Loaded image: {name}\n"));
        }
    }
    Ok(out)
}

/// `crictl images`' table: repository, tag, the image ID's first 13 hex digits, size.
fn list(store: &images::Store) -> anyhow::Result<String> {
    let mut rows = vec![[
        "IMAGE".to_string(),
        "TAG".to_string(),
        "IMAGE ID".to_string(),
        "SIZE".to_string(),
    ]];
    for (name, image) in store.images()? {
        let reference = images::Reference::parse_normalized(&name)?;
        let id = image.config.digest.trim_start_matches("sha256:");
        rows.push([
            reference.name(),
            reference.tag.unwrap_or_else(|| "<none>".into()),
            id.chars().take(13).collect(),
            human_size(image.size()),
        ]);
    }
    Ok(table(&rows))
}

/// The registries configuration of a data dir (k3s's `registries.yaml`).
pub(crate) fn registries_file(data_dir: &Path) -> PathBuf {
    data_dir.join("registries.yaml")
}

fn pull(
    store: &images::Store,
    data_dir: &Path,
    image: &str,
    creds: Option<String>,
) -> anyhow::Result<String> {
    let reference = images::Reference::for_pull(image)?;
    let registries = images::pull::Registries::load(&registries_file(data_dir))?;
    let credentials = creds.map(|c| match c.split_once(':') {
        Some((user, password)) => images::pull::Credentials::Basic(user.into(), password.into()),
        None => images::pull::Credentials::Basic(c.clone(), String::new()),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let record = runtime.block_on(images::pull::pull(
        store,
        &reference,
        &registries,
        credentials.as_ref(),
    ))?;
    Ok(format!(
        "Image is up to date for {reference}@{}\n",
        record.manifest
    ))
}

fn remove(store: &images::Store, names: &[String]) -> anyhow::Result<String> {
    let mut out = String::new();
    for name in names {
        let full = images::Reference::for_pull(name)?.to_string();
        store.remove(&full)?;
        out.push_str(&format!("Deleted: {full}\n"));
    }
    Ok(out)
}

/// Columns padded to their widest cell plus three spaces, as crictl's tabwriter.
fn table(rows: &[[String; 4]]) -> String {
    let widths: Vec<usize> = (0..4)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

/// docker's `units.HumanSize`: `%.4g` of the size in decimal units.
fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < units.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    let integer_digits = if size < 1.0 {
        1
    } else {
        size.log10().floor() as usize + 1
    };
    let decimals = 4usize.saturating_sub(integer_digits);
    let text = format!("{size:.decimals$}");
    let text = match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.'),
        false => &text,
    };
    format!("{text}{}", units[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_docker_prints_them() {
        let cases = [
            (0, "0B"),
            (999, "999B"),
            (1_000, "1kB"),
            (1_084_499, "1.084MB"),
            (52_000_000, "52MB"),
            (123_456_789, "123.5MB"),
        ];
        for (bytes, want) in cases {
            assert_eq!(human_size(bytes), want, "{bytes}");
        }
    }
}
