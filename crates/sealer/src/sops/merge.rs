//! Three-way merge of decrypted SOPS trees, for a git merge driver (getsops/sops#52 asks for
//! one): the common ancestor, ours and theirs in, one tree and the paths that conflict out.
//!
//! A branch is merged key by key. Each key travels with the comment lines just above it (a
//! branch's trailing comments form one more unit), so moving, adding or removing a key moves,
//! adds or removes its comments too. For each unit: the same on both sides, or changed on one
//! side only, takes that side; changed differently on both sides recurses when all three are
//! branches and is a conflict otherwise. Lists and scalars are compared whole. A key one side
//! added goes after the key it follows on that side; one side's removal of a unit the other
//! side left alone removes it; a removal against a change is a conflict.
//!
//! Conflicts keep our side, so the tree is complete; the caller decides what to write.

use std::collections::HashMap;

use super::PlainFile;
use super::tree::{Branch, Item, Key, PathStep, TreePath, Value};

/// The result of [`merge`].
#[derive(Debug)]
pub struct Merged {
    /// The merged documents (ours where they conflict).
    pub file: PlainFile,
    /// The paths changed differently on both sides, in document order: `["db"]["port"]`,
    /// prefixed by `document N: ` in files of several documents.
    pub conflicts: Vec<String>,
}

impl Merged {
    /// Whether both sides changed the same value differently.
    pub fn has_conflicts(&self) -> bool {
        !self.conflicts.is_empty()
    }
}

/// Merges `ours` and `theirs`, two versions of `base`.
pub fn merge(base: &PlainFile, ours: &PlainFile, theirs: &PlainFile) -> Merged {
    let mut conflicts = Vec::new();
    let (o, a, b) = (&base.docs, &ours.docs, &theirs.docs);
    let docs = if a == b || o == b {
        a.clone()
    } else if o == a {
        b.clone()
    } else if o.len() == a.len() && a.len() == b.len() {
        let many = a.len() > 1;
        o.iter()
            .zip(a)
            .zip(b)
            .enumerate()
            .map(|(index, ((o, a), b))| {
                let mut found = Vec::new();
                let merged = merge_branch(Some(o), a, b, &mut Vec::new(), &mut found);
                conflicts.extend(found.into_iter().map(|p| {
                    if many {
                        format!("document {}: {p}", index + 1)
                    } else {
                        p
                    }
                }));
                merged
            })
            .collect()
    } else {
        conflicts.push("the number of documents".to_owned());
        a.clone()
    };
    Merged {
        file: PlainFile {
            docs,
            single_value: ours.single_value,
        },
        conflicts,
    }
}

/// What identifies a unit of a branch: its key, or the branch's end (trailing comments).
#[derive(Clone, PartialEq, Eq, Hash)]
enum UnitId {
    Key(String),
    Other(String),
    End,
}

/// A key with the comments above it (or the trailing comments).
struct Unit<'a> {
    id: UnitId,
    items: &'a [Item],
}

impl Unit<'_> {
    fn comments(&self) -> &[Item] {
        match self.id {
            UnitId::End => self.items,
            _ => &self.items[..self.items.len() - 1],
        }
    }

    fn keyed(&self) -> Option<&Item> {
        match self.id {
            UnitId::End => None,
            _ => self.items.last(),
        }
    }
}

/// Splits a branch into units; `None` when a key appears twice (the branch is then merged
/// whole).
fn units(branch: &Branch) -> Option<Vec<Unit<'_>>> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut start = 0;
    for (index, item) in branch.items.iter().enumerate() {
        let id = match &item.key {
            Key::Comment(_) => continue,
            Key::Str(k) => UnitId::Key(k.clone()),
            Key::Other(s) => UnitId::Other(format!(
                "{}:{}",
                s.type_name().unwrap_or("null"),
                String::from_utf8_lossy(&s.bytes())
            )),
        };
        if !seen.insert(id.clone()) {
            return None;
        }
        out.push(Unit {
            id,
            items: &branch.items[start..=index],
        });
        start = index + 1;
    }
    if start < branch.items.len() {
        out.push(Unit {
            id: UnitId::End,
            items: &branch.items[start..],
        });
    }
    Some(out)
}

fn path_text(path: &[PathStep]) -> String {
    TreePath(path.to_vec()).to_string()
}

/// Three-way choice between whole values: `None` when both sides changed them differently.
fn pick<'a, T: PartialEq + ?Sized>(
    o: Option<&'a T>,
    a: Option<&'a T>,
    b: Option<&'a T>,
) -> Option<Option<&'a T>> {
    if a == b || o == b {
        Some(a)
    } else if o == a {
        Some(b)
    } else {
        None
    }
}

fn merge_branch(
    o: Option<&Branch>,
    a: &Branch,
    b: &Branch,
    path: &mut Vec<PathStep>,
    conflicts: &mut Vec<String>,
) -> Branch {
    let split = (o.map(units), units(a), units(b));
    let (o_units, a_units, b_units) = match split {
        (Some(Some(o)), Some(a), Some(b)) => (o, a, b),
        (None, Some(a), Some(b)) => (Vec::new(), a, b),
        _ => {
            conflicts.push(path_text(path));
            return a.clone();
        }
    };
    let o_map: HashMap<&UnitId, &Unit<'_>> = o_units.iter().map(|u| (&u.id, u)).collect();
    let b_map: HashMap<&UnitId, &Unit<'_>> = b_units.iter().map(|u| (&u.id, u)).collect();
    let a_ids: std::collections::HashSet<&UnitId> = a_units.iter().map(|u| &u.id).collect();

    // Our units in our order, each merged with theirs; then theirs that only they added.
    let mut result: Vec<(UnitId, Vec<Item>)> = Vec::new();
    for unit in &a_units {
        let (ou, bu) = (o_map.get(&unit.id).copied(), b_map.get(&unit.id).copied());
        if let Some(items) = merge_unit(ou, Some(unit), bu, path, conflicts) {
            result.push((unit.id.clone(), items));
        }
    }
    let mut after: Option<usize> = None;
    for unit in &b_units {
        if let Some(pos) = result.iter().position(|(id, _)| *id == unit.id) {
            after = Some(pos);
            continue;
        }
        if a_ids.contains(&unit.id) {
            continue;
        }
        let ou = o_map.get(&unit.id).copied();
        if let Some(items) = merge_unit(ou, None, Some(unit), path, conflicts) {
            // Their new key goes after the key it follows on their side; trailing comments
            // stay last.
            let pos = match (&unit.id, after) {
                (UnitId::End, _) => result.len(),
                (_, Some(p)) => p + 1,
                (_, None) => 0,
            };
            result.insert(pos, (unit.id.clone(), items));
            after = Some(pos);
        }
    }
    Branch {
        items: result.into_iter().flat_map(|(_, items)| items).collect(),
    }
}

/// Merges one unit; `None` when it is gone from the result.
fn merge_unit(
    o: Option<&Unit<'_>>,
    a: Option<&Unit<'_>>,
    b: Option<&Unit<'_>>,
    path: &mut Vec<PathStep>,
    conflicts: &mut Vec<String>,
) -> Option<Vec<Item>> {
    let id = a.or(b).map(|u| u.id.clone())?;
    if let UnitId::Key(k) = &id {
        path.push(PathStep::Key(k.clone()));
    }
    let result = merge_present_unit(o, a, b, &id, path, conflicts);
    if matches!(id, UnitId::Key(_)) {
        path.pop();
    }
    result
}

fn merge_present_unit(
    o: Option<&Unit<'_>>,
    a: Option<&Unit<'_>>,
    b: Option<&Unit<'_>>,
    id: &UnitId,
    path: &mut Vec<PathStep>,
    conflicts: &mut Vec<String>,
) -> Option<Vec<Item>> {
    let (Some(a), Some(b)) = (a, b) else {
        // Only one side has it: added there, or removed on the other side.
        return match pick(items(o), items(a), items(b)) {
            Some(chosen) => chosen.map(<[Item]>::to_vec),
            None => {
                conflicts.push(unit_text(id, path));
                a.map(|a| a.items.to_vec())
            }
        };
    };
    let comments = match pick(
        o.map(Unit::comments),
        Some(a.comments()),
        Some(b.comments()),
    ) {
        Some(chosen) => chosen.unwrap_or_default().to_vec(),
        None => {
            conflicts.push(format!("{} (comments)", unit_text(id, path)));
            a.comments().to_vec()
        }
    };
    let mut out = comments;
    if let (Some(ai), Some(bi)) = (a.keyed(), b.keyed()) {
        let oi = o.and_then(Unit::keyed);
        let value = merge_value(oi.map(|i| &i.value), &ai.value, &bi.value, path, conflicts);
        out.push(Item {
            key: ai.key.clone(),
            value,
        });
    }
    Some(out)
}

fn items<'a>(u: Option<&Unit<'a>>) -> Option<&'a [Item]> {
    u.map(|u| u.items)
}

fn unit_text(id: &UnitId, path: &[PathStep]) -> String {
    match id {
        UnitId::End if path.is_empty() => "the comments at the end".to_owned(),
        UnitId::End => format!("{} (comments at its end)", path_text(path)),
        UnitId::Other(k) => format!("{} (key {k})", path_text(path)),
        UnitId::Key(_) => path_text(path),
    }
}

fn merge_value(
    o: Option<&Value>,
    a: &Value,
    b: &Value,
    path: &mut Vec<PathStep>,
    conflicts: &mut Vec<String>,
) -> Value {
    if let Some(chosen) = pick(o, Some(a), Some(b)) {
        return chosen.unwrap_or(a).clone();
    }
    match (o, a, b) {
        (Some(Value::Branch(o)), Value::Branch(a), Value::Branch(b)) => {
            Value::Branch(merge_branch(Some(o), a, b, path, conflicts))
        }
        (None, Value::Branch(a), Value::Branch(b)) => {
            Value::Branch(merge_branch(None, a, b, path, conflicts))
        }
        _ => {
            conflicts.push(path_text(path));
            a.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::Format;

    fn yaml(text: &str) -> PlainFile {
        PlainFile::parse(text.as_bytes(), Format::Yaml).unwrap()
    }

    fn text(file: &PlainFile) -> String {
        String::from_utf8(file.to_bytes(Format::Yaml).unwrap()).unwrap()
    }

    const BASE: &str = "# database\ndb:\n    host: db.local\n    port: 5432\n    user: app\napi_key: abc\nlist:\n    - a\n    - b\n";

    #[test]
    fn changes_to_different_values_both_land() {
        let ours = yaml(&BASE.replace("5432", "5433"));
        let theirs = yaml(&BASE.replace("user: app", "user: svc"));
        let merged = merge(&yaml(BASE), &ours, &theirs);
        assert!(!merged.has_conflicts());
        assert_eq!(
            text(&merged.file),
            BASE.replace("5432", "5433")
                .replace("user: app", "user: svc")
        );
    }

    #[test]
    fn the_same_value_changed_differently_is_a_conflict_named_by_its_path() {
        let ours = yaml(&BASE.replace("5432", "5433"));
        let theirs = yaml(&BASE.replace("5432", "6000").replace("abc", "xyz"));
        let merged = merge(&yaml(BASE), &ours, &theirs);
        assert_eq!(merged.conflicts, vec![r#"["db"]["port"]"#.to_owned()]);
        // Ours is kept where they conflict; their other change lands.
        assert_eq!(
            text(&merged.file),
            BASE.replace("5432", "5433").replace("abc", "xyz")
        );
    }

    #[test]
    fn keys_added_on_both_sides_keep_their_place_and_comments() {
        let ours = yaml(&BASE.replace("api_key: abc\n", "api_key: abc\n# ours\nnew_a: 1\n"));
        let theirs = yaml(&BASE.replace(
            "    user: app\n",
            "    user: app\n    # theirs\n    pass: x\n",
        ));
        let merged = merge(&yaml(BASE), &ours, &theirs);
        assert!(!merged.has_conflicts());
        assert_eq!(
            text(&merged.file),
            BASE.replace("api_key: abc\n", "api_key: abc\n# ours\nnew_a: 1\n")
                .replace(
                    "    user: app\n",
                    "    user: app\n    # theirs\n    pass: x\n"
                )
        );
    }

    #[test]
    fn a_removal_lands_unless_the_other_side_changed_the_value() {
        let base = yaml(BASE);
        let removed = yaml(&BASE.replace("api_key: abc\n", ""));
        let merged = merge(&base, &removed, &yaml(&BASE.replace("5432", "1")));
        assert!(!merged.has_conflicts());
        assert_eq!(
            text(&merged.file),
            BASE.replace("api_key: abc\n", "").replace("5432", "1")
        );
        let merged = merge(&base, &removed, &yaml(&BASE.replace("abc", "new")));
        assert_eq!(merged.conflicts, vec![r#"["api_key"]"#.to_owned()]);
    }

    #[test]
    fn lists_are_compared_whole() {
        let merged = merge(
            &yaml(BASE),
            &yaml(&BASE.replace("- a", "- c")),
            &yaml(&BASE.replace("- b", "- d")),
        );
        assert_eq!(merged.conflicts, vec![r#"["list"]"#.to_owned()]);
    }

    #[test]
    fn comment_changes_merge_like_values() {
        let merged = merge(
            &yaml(BASE),
            &yaml(&BASE.replace("# database", "# the database")),
            &yaml(&BASE.replace("abc", "def")),
        );
        assert!(!merged.has_conflicts());
        assert_eq!(
            text(&merged.file),
            BASE.replace("# database", "# the database")
                .replace("abc", "def")
        );
        let merged = merge(
            &yaml(BASE),
            &yaml(&BASE.replace("# database", "# one")),
            &yaml(&BASE.replace("# database", "# two")),
        );
        assert_eq!(merged.conflicts, vec![r#"["db"] (comments)"#.to_owned()]);
    }
}
