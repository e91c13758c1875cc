//! Free loopback ports for server instances. Each call hands out ports no other call in
//! this process got, and checks that they can be bound right now, so parallel instances
//! never collide with each other. The ports lie outside the kernel's ephemeral range: an
//! outgoing connection (our client's, anyone's) can take any ephemeral port between our
//! check and the server's bind, which made busy runs fail with "Address already in use".

use std::net::{Ipv4Addr, TcpListener};
use std::sync::{LazyLock, Mutex};

/// The lowest port handed out (above the well-known and most registered ones).
const LOWEST: u16 = 10_000;
/// The fewest ports a range must have to be used.
const ENOUGH: u16 = 4_000;

/// The range ports come from, walked from a per-process random start.
static RANGE: LazyLock<(u16, u16)> = LazyLock::new(|| {
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut bounds = text.split_whitespace().map(|n| n.parse::<u16>().ok());
            Some((bounds.next()??, bounds.next()??))
        })
        .unwrap_or((32_768, 60_999));
    outside(ephemeral)
});

/// The larger stretch of ports outside `ephemeral` (Linux's default: 10000-32767).
fn outside((low, high): (u16, u16)) -> (u16, u16) {
    let below = (LOWEST, low.saturating_sub(1));
    let above = (high.saturating_add(1).max(LOWEST), u16::MAX);
    let size = |(a, b): (u16, u16)| b.saturating_sub(a);
    if size(below) >= ENOUGH || size(below) >= size(above) {
        below
    } else {
        above
    }
}

static NEXT: Mutex<Option<u16>> = Mutex::new(None);

fn bindable(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// `count` consecutive free ports (a passive range needs them consecutive).
pub fn allocate(count: u16) -> Vec<u16> {
    let (first, last) = *RANGE;
    let mut next = NEXT.lock().expect("port allocator lock");
    let mut start = next.unwrap_or_else(|| {
        let seed = std::process::id() as u64 * 2_654_435_761 + nanos();
        first + (seed % u64::from((last - first) / 2)) as u16
    });
    loop {
        if u32::from(start) + u32::from(count) > u32::from(last) {
            start = first;
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
    fn ports_avoid_the_ephemeral_range() {
        assert_eq!(outside((32_768, 60_999)), (10_000, 32_767));
        // A range that starts low leaves the ports above it.
        assert_eq!(outside((11_000, 40_000)), (40_001, 65_535));
        let (first, last) = *RANGE;
        for port in allocate(20) {
            assert!((first..=last).contains(&port));
        }
    }

    #[test]
    fn ranges_do_not_overlap() {
        let a = allocate(10);
        let b = allocate(3);
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[1] == w[0] + 1));
        assert!(b.iter().all(|p| !a.contains(p)));
    }
}
