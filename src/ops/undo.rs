//! Compensation in one place: steps already done register how to undo themselves; unless
//! the use case commits, dropping the stack undoes them, newest first.

/// Undo steps of a use case in progress.
#[must_use = "an undo stack undoes everything when dropped uncommitted"]
#[derive(Default)]
pub struct UndoStack<'a> {
    steps: Vec<Box<dyn FnOnce() + 'a>>,
}

impl<'a> UndoStack<'a> {
    pub fn new() -> Self {
        UndoStack { steps: Vec::new() }
    }

    /// Registers how to undo a step that has just been done.
    pub fn push(&mut self, undo: impl FnOnce() + 'a) {
        self.steps.push(Box::new(undo));
    }

    /// Every step stands: nothing is undone.
    pub fn commit(mut self) {
        self.steps.clear();
    }
}

impl Drop for UndoStack<'_> {
    fn drop(&mut self) {
        while let Some(step) = self.steps.pop() {
            step();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn undoes_newest_first_unless_committed() {
        let log = RefCell::new(Vec::new());
        {
            let mut u = UndoStack::new();
            u.push(|| log.borrow_mut().push(1));
            u.push(|| log.borrow_mut().push(2));
        }
        assert_eq!(*log.borrow(), vec![2, 1]);
        let mut u = UndoStack::new();
        u.push(|| log.borrow_mut().push(3));
        u.commit();
        assert_eq!(*log.borrow(), vec![2, 1]);
    }
}
