//! Free loopback ports for server instances. Each call hands out ports no other call in
//! this process got, and checks that they can be bound right now, so parallel instances
//! never collide with each other (and very rarely with anything else).

use std::net::{Ipv4Addr, TcpListener};
use std::sync::Mutex;

/// Ports come from this range, walked from a per-process random start.
const FIRST: u16 = 20_000;
const LAST: u16 = 59_999;

static NEXT: Mutex<Option<u16>> = Mutex::new(None);

fn bindable(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// `count` consecutive free ports (a passive range needs them consecutive).
pub fn allocate(count: u16) -> Vec<u16> {
    let mut next = NEXT.lock().expect("port allocator lock");
    let mut start = next.unwrap_or_else(|| {
        let seed = std::process::id() as u64 * 2_654_435_761 + nanos();
        FIRST + (seed % u64::from(LAST - FIRST - 1000)) as u16
    });
    loop {
        if start + count > LAST {
            start = FIRST;
        }
        let range: Vec<u16> = (start..start + count).collect();
        start += count;
        if range.iter().all(|&p| bindable(p)) {
            *next = Some(start);
            return range;
        }
    }
}

fn nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_do_not_overlap() {
        let a = allocate(10);
        let b = allocate(3);
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[1] == w[0] + 1));
        assert!(b.iter().all(|p| !a.contains(p)));
    }
}
