//! Counting this process's threads by name (`/proc/self/task/*/comm`, Linux), for the tests
//! that check a thread starts and ends with what owns it.
#![allow(dead_code)]

/// How many of this process's threads have a name for which `matches` holds.
pub fn threads_where(matches: impl Fn(&str) -> bool) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task lists this process's threads")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| matches(comm.trim_end()))
        .count()
}

/// How many of this process's threads are named `name`.
pub fn threads_named(name: &str) -> usize {
    threads_where(|comm| comm == name)
}
