//! Giving freed memory back. A burst of runs (many scenarios' checks at once, each with its
//! sockets, TLS sessions and buffers) raises the heap; glibc's allocator keeps what was freed
//! for later and the process's RSS stays at the burst's height. The exporter limits the
//! allocator to two arenas and, once a while, hands the free pages back to the system.

use std::time::Duration;

/// How often the free memory is handed back.
pub const TRIM_EVERY: Duration = Duration::from_secs(5);

/// At start: at most two malloc arenas (the runtime's threads share them). glibc Linux only:
/// elsewhere (musl, macOS, Windows) the system allocator is left as it is, and this does nothing.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before the runtime's
    // threads allocate much, and it is thread-safe in glibc anyway.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Hands the heap's free pages back to the system. glibc Linux only: elsewhere it does nothing
/// (macOS's and Windows' allocators return free pages on their own).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is thread-safe in glibc.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Trims every [`TRIM_EVERY`] until `stop`.
pub async fn trim_until(mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(TRIM_EVERY) => {}
            _ = stop.changed() => break,
        }
        let _ = tokio::task::spawn_blocking(trim).await;
    }
}
