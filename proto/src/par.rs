//! A map over a slice spread across threads, for the few places where a
//! vault's worth of independent work (decrypting, hashing) sits on the
//! start-up path (issue 15).

/// `f` of each of `items`, in order, on up to `threads` threads, each
/// given at least `min_per_thread` items (below that a thread costs more
/// than it saves). A part whose thread panicked is done again on this one.
pub(crate) fn map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    min_per_thread: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let threads = threads.clamp(1, (items.len() / min_per_thread.max(1)).max(1));
    if threads == 1 {
        return items.iter().map(&f).collect();
    }
    let size = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let f = &f;
        let mut parts = items.chunks(size);
        let first = parts.next().unwrap_or_default();
        let handles: Vec<_> = parts
            .map(|part| (part, scope.spawn(move || part.iter().map(f).collect::<Vec<_>>())))
            .collect();
        let mut out: Vec<R> = Vec::with_capacity(items.len());
        out.extend(first.iter().map(f));
        for (part, handle) in handles {
            match handle.join() {
                Ok(done) => out.extend(done),
                Err(_) => out.extend(part.iter().map(f)),
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_result_is_in_order_whatever_the_threads() {
        let items: Vec<u32> = (0..1000).collect();
        let want: Vec<u64> = items.iter().map(|i| u64::from(*i) * 3).collect();
        for threads in [0, 1, 2, 3, 7, 2000] {
            assert_eq!(
                super::map(&items, threads, 10, |i| u64::from(*i) * 3),
                want,
                "{threads} threads"
            );
        }
        assert!(super::map(&[] as &[u32], 4, 10, |i| *i).is_empty());
    }

    #[test]
    fn a_part_whose_thread_panicked_is_done_again_here() {
        let main = std::thread::current().id();
        let items: Vec<u32> = (0..100).collect();
        let out = super::map(&items, 2, 10, |i| {
            // Panics on the helper thread only (the second half).
            assert!(*i < 50 || std::thread::current().id() == main, "a helper's item");
            *i
        });
        assert_eq!(out, items);
    }
}
