//! Running one runtime per thread, and reporting the first one that fails.

use std::sync::mpsc;

/// Runs `work(index, item)` on one named thread per item. Returns the first error any of
/// them returns (the others keep running until the process exits), or `Ok` once all return.
pub fn run_each<T, F>(name: &str, items: Vec<T>, work: F) -> anyhow::Result<()>
where
    T: Send + 'static,
    F: Fn(usize, T) -> anyhow::Result<()> + Send + Clone + 'static,
{
    let (done_tx, done_rx) = mpsc::channel();
    let count = items.len();
    for (index, item) in items.into_iter().enumerate() {
        let work = work.clone();
        let done = done_tx.clone();
        std::thread::Builder::new().name(format!("{name}-{index}")).spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(index, item)))
                .unwrap_or_else(|_| Err(anyhow::anyhow!("worker thread {index} panicked")));
            // The receiver outlives every sender unless main already returned an error.
            let _ = done.send(result);
        })?;
    }
    drop(done_tx);
    for _ in 0..count {
        match done_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(err),
            Err(_) => anyhow::bail!("a {name} thread ended without a result"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_error_is_reported() {
        let result = run_each("t", vec![1, 2, 3], |_, n| {
            if n == 2 {
                anyhow::bail!("two failed")
            }
            Ok(())
        });
        assert_eq!(result.unwrap_err().to_string(), "two failed");
        assert!(run_each("t", vec![1, 2], |_, _| Ok(())).is_ok());
    }
}
