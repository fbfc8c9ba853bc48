//! Runs a parsed template over its data, following Go's `text/template/exec.go`.

use zeroize::Zeroizing;

use super::error::{Error, Result, position};
use super::funcs;
use super::parse::{Command, Constant, Node, Operand, Pipeline};
use super::value::Value;
use super::{MAX_OUTPUT, MAX_STEPS, MissingKey};

/// What a list of nodes asks its enclosing `range` to do.
enum Flow {
    Normal,
    Break,
    Continue,
}

/// The state of one execution.
pub(crate) struct Exec<'t> {
    src: &'t str,
    missing: MissingKey,
    out: Zeroizing<Vec<u8>>,
    vars: Vec<(String, Value)>,
    steps: u64,
}

impl<'t> Exec<'t> {
    /// Runs `nodes` with `.` and `$` bound to `root`.
    pub(crate) fn run(
        src: &'t str,
        nodes: &[Node],
        root: Value,
        missing: MissingKey,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let mut exec = Exec {
            src,
            missing,
            out: Zeroizing::new(Vec::new()),
            vars: vec![("$".to_owned(), root.clone())],
            steps: 0,
        };
        exec.walk(&root, nodes)?;
        Ok(exec.out)
    }

    fn error(&self, at: usize, reason: impl Into<String>) -> Error {
        let (line, column) = position(self.src, at);
        Error::Exec {
            line,
            column,
            reason: reason.into(),
        }
    }

    fn emit(&mut self, bytes: &[u8]) -> Result<()> {
        if self.out.len() + bytes.len() > MAX_OUTPUT {
            return Err(Error::OutputTooLarge { limit: MAX_OUTPUT });
        }
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    fn tick(&mut self, at: usize) -> Result<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(self.error(at, format!("template ran more than {MAX_STEPS} steps")));
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Value, nodes: &[Node]) -> Result<Flow> {
        for node in nodes {
            match node {
                Node::Text(text) => self.emit(text.as_bytes())?,
                Node::Action(pipe) => {
                    self.tick(pipe.at)?;
                    let value = self.pipeline(dot, pipe)?;
                    if pipe.vars.is_empty() {
                        let bytes = value.to_bytes();
                        self.emit(&bytes)?;
                    }
                }
                Node::Branch {
                    with,
                    branches,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    let mut taken = None;
                    for (pipe, body) in branches {
                        self.tick(pipe.at)?;
                        let value = self.pipeline(dot, pipe)?;
                        if value.truthy() {
                            taken = Some(if *with {
                                self.walk(&value, body)
                            } else {
                                self.walk(dot, body)
                            });
                            break;
                        }
                    }
                    let flow = match taken {
                        Some(flow) => flow,
                        None => self.walk(dot, otherwise),
                    };
                    self.vars.truncate(mark);
                    match flow? {
                        Flow::Normal => {}
                        other => return Ok(other),
                    }
                }
                Node::Range {
                    pipe,
                    body,
                    otherwise,
                } => {
                    self.tick(pipe.at)?;
                    let mark = self.vars.len();
                    let value = self.commands(dot, pipe)?;
                    let items: Vec<(Value, Value)> = match value {
                        Value::List(items) => items
                            .into_iter()
                            .enumerate()
                            .map(|(i, v)| (Value::Int(i as i64), v))
                            .collect(),
                        Value::Map(map) => {
                            map.into_iter().map(|(k, v)| (Value::str(k), v)).collect()
                        }
                        Value::Int(n) => (0..n.max(0))
                            .map(|i| (Value::Int(i), Value::Int(i)))
                            .collect(),
                        Value::Nil | Value::Missing => Vec::new(),
                        other => {
                            return Err(self.error(
                                pipe.at,
                                format!("range can't iterate over {}", other.kind()),
                            ));
                        }
                    };
                    if items.is_empty() {
                        let flow = self.walk(dot, otherwise);
                        self.vars.truncate(mark);
                        match flow? {
                            Flow::Normal => {}
                            other => return Ok(other),
                        }
                        continue;
                    }
                    for (key, elem) in items {
                        self.tick(pipe.at)?;
                        match pipe.vars.as_slice() {
                            [] => {}
                            [v] => self.vars.push((v.clone(), elem.clone())),
                            [k, v, ..] => {
                                self.vars.push((k.clone(), key));
                                self.vars.push((v.clone(), elem.clone()));
                            }
                        }
                        let flow = self.walk(&elem, body);
                        self.vars.truncate(mark);
                        if let Flow::Break = flow? {
                            break;
                        }
                    }
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    /// A pipeline's value, with its variables declared or assigned.
    fn pipeline(&mut self, dot: &Value, pipe: &Pipeline) -> Result<Value> {
        let value = self.commands(dot, pipe)?;
        for name in &pipe.vars {
            if pipe.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = value.clone(),
                    None => return Err(self.error(pipe.at, format!("undefined variable: {name}"))),
                }
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    /// A pipeline's value without touching variables.
    fn commands(&mut self, dot: &Value, pipe: &Pipeline) -> Result<Value> {
        let mut last = None;
        for cmd in &pipe.commands {
            last = Some(self.command(dot, cmd, last)?);
        }
        Ok(last.unwrap_or(Value::Nil))
    }

    fn command(&mut self, dot: &Value, cmd: &Command, previous: Option<Value>) -> Result<Value> {
        match &cmd.args[0] {
            Operand::Func(name) => {
                let mut args = Vec::with_capacity(cmd.args.len());
                for arg in &cmd.args[1..] {
                    args.push(self.operand(dot, arg, cmd.at)?);
                }
                args.extend(previous);
                funcs::call(name, args).map_err(|reason| self.error(cmd.at, reason))
            }
            first => {
                if cmd.args.len() > 1 || previous.is_some() {
                    return Err(self.error(cmd.at, "can't give argument to non-function"));
                }
                self.operand(dot, first, cmd.at)
            }
        }
    }

    fn operand(&mut self, dot: &Value, operand: &Operand, at: usize) -> Result<Value> {
        match operand {
            Operand::Func(name) => {
                funcs::call(name, Vec::new()).map_err(|reason| self.error(at, reason))
            }
            Operand::Field(chain) => self.fields(dot, chain, at),
            Operand::Var(name, chain) => {
                let (_, value) = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .ok_or_else(|| self.error(at, format!("undefined variable: {name}")))?;
                self.fields(value, chain, at)
            }
            Operand::Sub(pipe, chain) => {
                let value = self.pipeline(dot, pipe)?;
                self.fields(&value, chain, at)
            }
            Operand::Const(c) => Ok(match c {
                Constant::Str(s) => Value::str(s.as_bytes()),
                Constant::Int(n) => Value::Int(*n),
                Constant::Float(f) => Value::Float(*f),
                Constant::Bool(b) => Value::Bool(*b),
                Constant::Nil => Value::Nil,
            }),
        }
    }

    /// Follows `.a.b` from `value`. Only maps have fields here.
    fn fields(&self, value: &Value, chain: &[String], at: usize) -> Result<Value> {
        let mut current = value;
        for (i, name) in chain.iter().enumerate() {
            current = match current {
                Value::Map(map) => match map.get(name) {
                    Some(v) => v,
                    None if self.missing == MissingKey::NoValue && i + 1 == chain.len() => {
                        return Ok(Value::Missing);
                    }
                    None => {
                        return Err(self.error(at, format!("map has no entry for key {name:?}")));
                    }
                },
                Value::Nil | Value::Missing => {
                    return Err(self.error(at, format!("nil pointer evaluating .{name}")));
                }
                other => {
                    return Err(self.error(
                        at,
                        format!("can't evaluate field {name} in type {}", other.kind()),
                    ));
                }
            };
        }
        Ok(current.clone())
    }
}
