//! Scoped event names (issue 13.8) and the handler registry: a freed name's id goes to the next
//! new name, and no registry mistakes the new name for the old one (its handlers, or the
//! "nobody listens" summary of its id).
//!
//! One test in its own binary: it relies on ids being reused, which other tests interning names
//! at the same time would disturb.

use std::sync::{Arc, Mutex};

use rookery::telemetry::{EventName, Telemetry, Value};

#[test]
fn a_reused_id_is_dispatched_as_the_new_name_it_now_belongs_to() {
    let t = Telemetry::new();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = seen.clone();
    t.attach_prefix(
        "want",
        &["want"],
        move |name, _, _, _| s.lock().unwrap().push(name.dotted().to_owned()),
        Value::Null,
    )
    .unwrap();
    let before = EventName::scoped_count();

    // A name nobody listens to: dispatched, noted as silent, then freed.
    let quiet = EventName::scoped(&["quiet", "one"]).unwrap();
    let id = quiet.id();
    t.execute(quiet.clone(), &[], &[]);
    t.execute(quiet.clone(), &[], &[]);
    assert!(!t.has_handlers(quiet.clone()));
    drop(quiet);
    assert_eq!(
        EventName::scoped_count(),
        before,
        "freed with its last handle"
    );

    // The next new name gets the freed id; the prefix handler wants it.
    let wanted = EventName::scoped(&["want", "this"]).unwrap();
    assert_eq!(wanted.id(), id, "the freed id is reused");
    assert!(t.has_handlers(wanted.clone()));
    t.execute(wanted.clone(), &[], &[]);
    assert_eq!(*seen.lock().unwrap(), ["want.this"]);

    // And the other way round: a wanted name freed, its id reused by one nobody wants.
    drop(wanted);
    let other = EventName::scoped(&["quiet", "two"]).unwrap();
    assert_eq!(other.id(), id);
    t.execute(other.clone(), &[], &[]);
    assert!(!t.has_handlers(other.clone()));
    assert_eq!(
        *seen.lock().unwrap(),
        ["want.this"],
        "the new name is not delivered to the old one's handler"
    );

    // After `persist`, the same.
    t.persist();
    drop(other);
    let again = EventName::scoped(&["want", "again"]).unwrap();
    assert_eq!(again.id(), id);
    t.execute(again.clone(), &[], &[]);
    assert_eq!(*seen.lock().unwrap(), ["want.this", "want.again"]);

    // A handler attached to a scoped name holds it: it is not freed while attached.
    let held = EventName::scoped(&["held", "name"]).unwrap();
    let held_id = held.id();
    t.attach("exact", held.clone(), |_, _, _, _| {}, Value::Null)
        .unwrap();
    drop(held);
    let same = EventName::scoped(&["held", "name"]).unwrap();
    assert_eq!(same.id(), held_id, "still the attached name");
    assert!(t.has_handlers(same.clone()));
    t.detach("exact").unwrap();
    drop((again, same));
    // A persisted registry keeps the tables it replaced (and their handlers) for its life.
    drop(t);
    assert_eq!(EventName::scoped_count(), before);
}
