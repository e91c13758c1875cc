//! Where each key and list item of a scenario file is, so checks made after parsing can
//! point at `file:line:column` of what they refuse.

use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// Positions by dotted path: `client.tls.min` (the key), `steps.3` (the fourth item),
/// `steps.3.raw`, `client.tls.alpn.0`.
#[derive(Debug, Default)]
pub struct Spans(HashMap<String, (u64, u64)>);

impl Spans {
    /// The positions in `source`; none if it does not parse (its errors are reported
    /// by the parse proper).
    pub fn of(source: &str) -> Spans {
        let mut spans = Spans::default();
        if let Ok(root) = crate::yaml::from_str::<Node>(std::path::Path::new(""), source) {
            spans.record("", &root);
        }
        spans
    }

    fn record(&mut self, prefix: &str, node: &Node) {
        let join = |segment: &str| {
            if prefix.is_empty() {
                segment.to_string()
            } else {
                format!("{prefix}.{segment}")
            }
        };
        match node {
            Node::Map(entries) => {
                for (key, value) in entries {
                    let path = join(&key.value);
                    let at = (key.referenced.line(), key.referenced.column());
                    self.0.entry(path.clone()).or_insert(at);
                    self.record(&path, &value.value);
                }
            }
            Node::List(items) => {
                for (index, item) in items.iter().enumerate() {
                    let path = join(&index.to_string());
                    let at = (item.referenced.line(), item.referenced.column());
                    self.0.entry(path.clone()).or_insert(at);
                    self.record(&path, &item.value);
                }
            }
            Node::Value => {}
        }
    }

    /// Whether `path` is written in the file.
    pub fn has(&self, path: &str) -> bool {
        self.0.contains_key(path)
    }

    /// The position of `path`, or of its nearest written ancestor (a knob that comes from
    /// a client profile points at the scenario's `client:`); (0, 0) when nothing is known.
    pub fn at(&self, path: &str) -> (u64, u64) {
        let mut path = path;
        loop {
            if let Some(&at) = self.0.get(path) {
                return at;
            }
            match path.rfind('.') {
                Some(cut) => path = &path[..cut],
                None => return (0, 0),
            }
        }
    }
}

/// Any YAML value, keeping where its keys and items are.
enum Node {
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
    List(Vec<Spanned<Node>>),
    Value,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            entries.push((key, map.next_value::<Spanned<Node>>()?));
        }
        Ok(Node::Map(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::List(items))
    }

    fn visit_str<E>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Value)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Value)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Value)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Value)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Value)
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Value)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_items_have_positions() {
        let spans = Spans::of(
            "id: x\nclient:\n  tls: { min: \"1.3\", alpn: [a, \"\"] }\nsteps:\n  - login\n  \
             - pipeline:\n      - NOOP\n      - QUIT\n",
        );
        assert_eq!(spans.at("client.tls.min"), (3, 10));
        assert_eq!(spans.at("client.tls.alpn.1"), (3, 32));
        assert_eq!(spans.at("steps.1.pipeline.1"), (8, 9));
        // Not written: the nearest written ancestor.
        assert_eq!(spans.at("client.tls.max"), (3, 3));
        assert!(!spans.has("client.tls.max"));
        assert_eq!(spans.at("expect.reply.code"), (0, 0));
    }
}
