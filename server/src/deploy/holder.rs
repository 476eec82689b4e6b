//! The name a process puts on the deployment leases it holds. It says which process on which
//! machine holds them, so that a Berth restarted on the same machine after a crash (kill -9,
//! an OOM kill, a power cut of the container) sees that the holder is gone and takes its jobs
//! over at once, rather than waiting for their leases to run out. Any other holder (another
//! machine, another container, a name it cannot read) is trusted until its lease expires.

/// `<machine>/<pid>/<start>/<random>`. `machine` is the boot id and the pid namespace: only
/// processes that see the same pids share it. `start` is when the process started (clock
/// ticks since boot), so a pid used again by a later process is not mistaken for the holder.
/// Where these cannot be read, `-` stands for them and the holder is never judged gone.
pub fn name() -> String {
    let pid = std::process::id();
    let start = start_time(pid).map_or_else(|| "-".to_string(), |t| t.to_string());
    format!("{}/{pid}/{start}/{}", machine().unwrap_or_else(|| "-".into()), hex::encode(rand::random::<[u8; 6]>()))
}

/// True when `holder` names a process of this machine that no longer runs.
pub fn is_gone(holder: &str) -> bool {
    let mut parts = holder.split('/');
    let (Some(machine_of), Some(pid), Some(start), Some(_)) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Some(here), Ok(pid), Ok(start)) = (machine(), pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    machine_of == here && start_time(pid) != Some(start)
}

fn machine() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let namespace: String = namespace.to_string_lossy().chars().filter(char::is_ascii_digit).collect();
    Some(format!("{}-{namespace}", boot.trim())).filter(|_| !namespace.is_empty())
}

/// When process `pid` started, from `/proc/<pid>/stat` (field 22); `None` when it does not
/// run (no such process, or a dead one its parent has not reaped yet).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X") | None) {
        return None;
    }
    fields.get(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_gone_only_when_its_process_no_longer_runs_here() {
        let me = name();
        assert!(!is_gone(&me), "this process runs: {me}");
        let parts: Vec<&str> = me.split('/').collect();
        if parts[0] == "-" {
            return; // not Linux: nothing is ever judged gone
        }
        // A process that has exited.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(is_gone(&format!("{}/{pid}/12345/abcdef", parts[0])), "an exited process");
        // A process that has exited but is not reaped yet (a zombie) is gone too.
        let mut zombie = std::process::Command::new("true").spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", zombie.id())).unwrap();
        assert!(stat.contains(") Z "), "{stat}");
        let started = stat.rsplit_once(')').unwrap().1.split_whitespace().nth(19).unwrap().to_string();
        assert!(is_gone(&format!("{}/{}/{started}/abcdef", parts[0], zombie.id())), "a zombie, with its own start time");
        zombie.wait().unwrap();
        // This pid, but a process started at another time: the pid was used again.
        assert!(is_gone(&format!("{}/{}/1/abcdef", parts[0], parts[1])), "a reused pid");
        // Another machine, or a name it cannot read: trusted until the lease expires.
        assert!(!is_gone(&format!("another-machine/{pid}/12345/abcdef")));
        assert!(!is_gone("1234-5a6b7c"));
        assert!(!is_gone(""));
    }
}
