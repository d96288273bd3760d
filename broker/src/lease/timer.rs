//! The in-memory timer queue: the leases due within the horizon, ordered by due time.
//!
//! Only the near future lives here. `covered_until` says how far the queue is complete: every
//! lease due before it is in the queue, so a new or renewed lease due earlier is inserted,
//! and one due later is left for a refill from the index to find.

use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Default)]
pub(super) struct TimerQueue {
    by_due: BTreeSet<(i64, String)>,
    due_of: HashMap<String, i64>,
    /// Unix ms up to which the queue holds every due lease.
    pub(super) covered_until: i64,
}

impl TimerQueue {
    /// Schedules (or reschedules) `id` at `due` if it falls inside the covered window.
    pub(super) fn schedule(&mut self, id: &str, due: i64) {
        self.remove(id);
        if due < self.covered_until {
            self.by_due.insert((due, id.to_string()));
            self.due_of.insert(id.to_string(), due);
        }
    }

    /// Inserts rows read from the index (they are inside the window by construction).
    pub(super) fn fill(&mut self, id: &str, due: i64) {
        self.remove(id);
        self.by_due.insert((due, id.to_string()));
        self.due_of.insert(id.to_string(), due);
    }

    pub(super) fn remove(&mut self, id: &str) {
        if let Some(due) = self.due_of.remove(id) {
            self.by_due.remove(&(due, id.to_string()));
        }
    }

    pub(super) fn next_due(&self) -> Option<i64> {
        self.by_due.first().map(|(due, _)| *due)
    }

    /// Removes and returns every id due at or before `now`.
    pub(super) fn pop_due(&mut self, now: i64) -> Vec<String> {
        let mut due = Vec::new();
        while let Some((at, _)) = self.by_due.first() {
            if *at > now {
                break;
            }
            if let Some((_, id)) = self.by_due.pop_first() {
                self.due_of.remove(&id);
                due.push(id);
            }
        }
        due
    }

    pub(super) fn len(&self) -> usize {
        self.by_due.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_only_inside_the_window_and_pops_in_order() {
        let mut queue = TimerQueue {
            covered_until: 1_000,
            ..TimerQueue::default()
        };
        queue.schedule("b", 500);
        queue.schedule("a", 100);
        queue.schedule("late", 5_000);
        assert_eq!(queue.len(), 2);
        queue.schedule("b", 50); // rescheduled earlier
        assert_eq!(queue.next_due(), Some(50));
        assert_eq!(queue.pop_due(120), vec!["b".to_string(), "a".to_string()]);
        assert_eq!(queue.len(), 0);
        queue.schedule("c", 200);
        queue.remove("c");
        assert!(queue.pop_due(10_000).is_empty());
    }
}
