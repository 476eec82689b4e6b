//! Whether two listener-rule path patterns can match the same request path. The load
//! balancer is shared by every API of an environment, so a pattern that overlaps another
//! API's would take (some of) its traffic, whichever rule's priority comes first.

/// True when some path matches both ALB patterns (`*`: any run of characters, `?`: exactly
/// one; everything else literal and case-sensitive).
pub fn overlap(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // seen[i][j]: the suffixes a[i..] and b[j..] were already found to share no path.
    let mut seen = vec![vec![false; b.len() + 1]; a.len() + 1];
    let mut todo = vec![(0usize, 0usize)];
    while let Some((i, j)) = todo.pop() {
        if std::mem::replace(&mut seen[i][j], true) {
            continue;
        }
        match (a.get(i), b.get(j)) {
            (None, None) => return true,
            (Some('*'), _) | (_, Some('*')) => {
                // A star matches nothing more, or takes one more character the other side produces.
                if a.get(i) == Some(&'*') {
                    todo.push((i + 1, j));
                    if j < b.len() {
                        todo.push((i, j + 1));
                    }
                }
                if b.get(j) == Some(&'*') {
                    todo.push((i, j + 1));
                    if i < a.len() {
                        todo.push((i + 1, j));
                    }
                }
            }
            (Some(x), Some(y)) if x == y || *x == '?' || *y == '?' => todo.push((i + 1, j + 1)),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::overlap;

    #[test]
    fn patterns_that_share_a_path_overlap() {
        for (a, b) in [
            ("/orders*", "/orders"),
            ("/orders*", "/orders/v2*"),
            ("/orders*", "/ord*"),
            ("/o?ders", "/orders"),
            ("/a*z", "/ab*"),
            ("/x*", "/x"),
            ("/api1*", "/api10*"),
            ("/a*b*c", "/a?c"),
        ] {
            assert!(overlap(a, b), "{a} {b}");
            assert!(overlap(b, a), "{b} {a}");
        }
    }

    #[test]
    fn disjoint_patterns_do_not() {
        for (a, b) in [
            ("/orders*", "/users*"),
            ("/api1/*", "/api10/*"),
            ("/svc-001*", "/svc-010*"),
            ("/a?", "/a"),
            ("/Orders*", "/orders*"),
            ("/a*z", "/b*"),
            ("/a*b", "/a*c"),
        ] {
            assert!(!overlap(a, b), "{a} {b}");
            assert!(!overlap(b, a), "{b} {a}");
        }
    }
}
