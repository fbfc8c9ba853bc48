//! Runs a parsed template over its data, following Go's `text/template/exec.go`, within a
//! [`Budget`]: every node evaluated is a step (text, action, branch, loop iteration, command,
//! argument, field link), `range` over an integer counts without building a list, the output
//! stops at [`super::Limits::output`] before it grows, and the executor nests no deeper than
//! [`super::Limits::depth`].

use std::collections::HashMap;

use zeroize::Zeroizing;

use super::MissingKey;
use super::budget::{Budget, Limit, SLOT};
use super::error::{Error, Result, limit_error, position};
use super::funcs::{self, Failure};
use super::parse::{Command, Constant, Node, Operand, Pipeline};
use super::sink::Sink;
use super::value::Value;

/// What a list of nodes asks its enclosing `range` to do.
enum Flow {
    Normal,
    Break,
    Continue,
}

/// Template variables: each name's stack of bindings, and the order they were made in so a
/// scope can be left in one step. Lookups cost one hash, however many variables a template
/// declares.
#[derive(Default)]
struct Scopes<'t> {
    bindings: HashMap<&'t str, Vec<Value>>,
    order: Vec<&'t str>,
}

impl<'t> Scopes<'t> {
    fn mark(&self) -> usize {
        self.order.len()
    }

    fn declare(&mut self, name: &'t str, value: Value) {
        self.bindings.entry(name).or_default().push(value);
        self.order.push(name);
    }

    /// Forgets the variables declared since `mark`.
    fn pop_to(&mut self, mark: usize) {
        while self.order.len() > mark {
            if let Some(name) = self.order.pop()
                && let Some(stack) = self.bindings.get_mut(name)
            {
                stack.pop();
            }
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.bindings.get(name).and_then(|stack| stack.last())
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.bindings
            .get_mut(name)
            .and_then(|stack| stack.last_mut())
    }
}

/// The state of one execution.
pub(crate) struct Exec<'t, 'b> {
    src: &'t str,
    missing: MissingKey,
    budget: &'b mut Budget,
    out: Sink,
    scopes: Scopes<'t>,
    depth: usize,
}

impl<'t, 'b> Exec<'t, 'b> {
    /// Runs `nodes` with `.` and `$` bound to `root`, paying from `budget`.
    pub(crate) fn run(
        src: &'t str,
        nodes: &'t [Node],
        root: &Value,
        missing: MissingKey,
        budget: &'b mut Budget,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let output = budget.limits().output;
        let mut exec = Exec {
            src,
            missing,
            budget,
            out: Sink::new(output, Limit::Output(output)),
            scopes: Scopes::default(),
            depth: 0,
        };
        exec.scopes.declare("$", root.clone());
        exec.walk(root, nodes)?;
        Ok(exec.out.into_bytes())
    }

    fn error(&self, at: usize, reason: impl Into<String>) -> Error {
        let (line, column) = position(self.src, at);
        Error::Exec {
            line,
            column,
            reason: reason.into(),
        }
    }

    fn over(&self, at: usize, what: &str, limit: Limit) -> Error {
        limit_error(self.src, at, what, limit)
    }

    fn failure(&self, at: usize, what: &str, failure: Failure) -> Error {
        match failure {
            Failure::Invalid(reason) => self.error(at, reason),
            Failure::Limit(limit) => self.over(at, what, limit),
        }
    }

    /// Takes `n` steps for `what` at `at`.
    fn tick(&mut self, at: usize, what: &str, n: usize) -> Result<()> {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.budget.tick(n).map_err(|l| self.over(at, what, l))
    }

    /// Appends text to the output, paying for it as work.
    fn emit(&mut self, at: usize, bytes: &[u8]) -> Result<()> {
        self.out
            .check_room(bytes.len())
            .and_then(|()| self.budget.charge(bytes.len()))
            .and_then(|()| self.out.extend(bytes))
            .map_err(|l| self.over(at, "output", l))
    }

    /// Prints a value to the output, paying for it as work.
    fn emit_value(&mut self, at: usize, value: &Value) -> Result<()> {
        let before = self.out.len();
        let printed = value.print(&mut self.out);
        let written = self.out.len() - before;
        printed
            .and_then(|()| self.budget.charge(written))
            .map_err(|l| self.over(at, "output", l))
    }

    /// Walks `nodes` one level deeper (the body of an `if`, `with` or `range`).
    fn nested(&mut self, at: usize, what: &str, dot: &Value, nodes: &'t [Node]) -> Result<Flow> {
        let max = self.budget.limits().depth;
        if self.depth >= max {
            return Err(self.over(at, what, Limit::Depth(max)));
        }
        self.depth += 1;
        let flow = self.walk(dot, nodes);
        self.depth -= 1;
        flow
    }

    fn walk(&mut self, dot: &Value, nodes: &'t [Node]) -> Result<Flow> {
        for node in nodes {
            match node {
                Node::Text { text, at } => {
                    self.tick(*at, "text", 1)?;
                    self.emit(*at, text.as_bytes())?;
                }
                Node::Action(pipe) => {
                    self.tick(pipe.at, "action", 1)?;
                    let value = self.pipeline(dot, pipe)?;
                    if pipe.vars.is_empty() {
                        self.emit_value(pipe.at, &value)?;
                    }
                }
                Node::Branch {
                    with,
                    branches,
                    otherwise,
                } => {
                    let what = if *with { "with" } else { "if" };
                    let mark = self.scopes.mark();
                    let mut taken = None;
                    for (pipe, body) in branches {
                        self.tick(pipe.at, what, 1)?;
                        let value = self.pipeline(dot, pipe)?;
                        if value.truthy() {
                            let inner = if *with { &value } else { dot };
                            taken = Some(self.nested(pipe.at, what, inner, body));
                            break;
                        }
                    }
                    let flow = match taken {
                        Some(flow) => flow,
                        None => {
                            let at = branches.first().map_or(0, |(p, _)| p.at);
                            self.nested(at, what, dot, otherwise)
                        }
                    };
                    self.scopes.pop_to(mark);
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
                    let mark = self.scopes.mark();
                    let flow = self.range(dot, pipe, body, otherwise);
                    self.scopes.pop_to(mark);
                    match flow? {
                        Flow::Normal => {}
                        other => return Ok(other),
                    }
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    /// `range`: over a list or a map in place, over an integer by counting; each iteration
    /// is a step, so `range 100000000000` stops at the step budget.
    fn range(
        &mut self,
        dot: &Value,
        pipe: &'t Pipeline,
        body: &'t [Node],
        otherwise: &'t [Node],
    ) -> Result<Flow> {
        self.tick(pipe.at, "range", 1)?;
        let value = self.commands(dot, pipe)?;
        match &value {
            Value::List(list) if !list.items.is_empty() => {
                for (i, elem) in list.items.iter().enumerate() {
                    let key = Value::Int(i64::try_from(i).unwrap_or(i64::MAX));
                    if let Flow::Break = self.iteration(pipe, body, key, elem)? {
                        break;
                    }
                }
            }
            Value::Map(map) if !map.entries.is_empty() => {
                for (k, elem) in &map.entries {
                    self.budget
                        .charge(SLOT.saturating_add(k.len()))
                        .map_err(|l| self.over(pipe.at, "range", l))?;
                    let key = Value::str(k.as_bytes());
                    if let Flow::Break = self.iteration(pipe, body, key, elem)? {
                        break;
                    }
                }
            }
            Value::Int(n) if *n > 0 => {
                for i in 0..*n {
                    let elem = Value::Int(i);
                    if let Flow::Break = self.iteration(pipe, body, elem.clone(), &elem)? {
                        break;
                    }
                }
            }
            Value::List(_) | Value::Map(_) | Value::Int(_) | Value::Nil | Value::Missing => {
                return self.nested(pipe.at, "range", dot, otherwise);
            }
            other => {
                return Err(self.error(
                    pipe.at,
                    format!("range can't iterate over {}", other.kind()),
                ));
            }
        }
        Ok(Flow::Normal)
    }

    /// One iteration of `range` with `.` bound to `elem`.
    fn iteration(
        &mut self,
        pipe: &'t Pipeline,
        body: &'t [Node],
        key: Value,
        elem: &Value,
    ) -> Result<Flow> {
        self.tick(pipe.at, "range", 1)?;
        let mark = self.scopes.mark();
        match pipe.vars.as_slice() {
            [] => {}
            [v] => self.scopes.declare(v, elem.clone()),
            [k, v, ..] => {
                self.scopes.declare(k, key);
                self.scopes.declare(v, elem.clone());
            }
        }
        let flow = self.nested(pipe.at, "range", elem, body);
        self.scopes.pop_to(mark);
        flow
    }

    /// A pipeline's value, with its variables declared or assigned.
    fn pipeline(&mut self, dot: &Value, pipe: &'t Pipeline) -> Result<Value> {
        let value = self.commands(dot, pipe)?;
        for name in &pipe.vars {
            if pipe.assign {
                match self.scopes.get_mut(name) {
                    Some(slot) => *slot = value.clone(),
                    None => return Err(self.error(pipe.at, format!("undefined variable: {name}"))),
                }
            } else {
                self.scopes.declare(name, value.clone());
            }
        }
        Ok(value)
    }

    /// A pipeline's value without touching variables.
    fn commands(&mut self, dot: &Value, pipe: &'t Pipeline) -> Result<Value> {
        let mut last = None;
        for cmd in &pipe.commands {
            last = Some(self.command(dot, cmd, last)?);
        }
        Ok(last.unwrap_or(Value::Nil))
    }

    fn command(&mut self, dot: &Value, cmd: &'t Command, previous: Option<Value>) -> Result<Value> {
        let Some(first) = cmd.args.first() else {
            return Err(self.error(cmd.at, "missing value for command"));
        };
        match first {
            Operand::Func(name) => {
                self.tick(cmd.at, name, 1)?;
                let mut args = Vec::with_capacity(cmd.args.len());
                for arg in &cmd.args[1..] {
                    args.push(self.operand(dot, arg, cmd.at)?);
                }
                args.extend(previous);
                funcs::call(name, args, self.budget).map_err(|f| self.failure(cmd.at, name, f))
            }
            first => {
                if cmd.args.len() > 1 || previous.is_some() {
                    return Err(self.error(cmd.at, "can't give argument to non-function"));
                }
                self.operand(dot, first, cmd.at)
            }
        }
    }

    fn operand(&mut self, dot: &Value, operand: &'t Operand, at: usize) -> Result<Value> {
        match operand {
            Operand::Func(name) => {
                self.tick(at, name, 1)?;
                funcs::call(name, Vec::new(), self.budget).map_err(|f| self.failure(at, name, f))
            }
            Operand::Field(chain) => {
                self.tick(at, "field", 1 + chain.len())?;
                self.fields(dot, chain, at)
            }
            Operand::Var(name, chain) => {
                self.tick(at, "variable", 1 + chain.len())?;
                let value = self
                    .scopes
                    .get(name)
                    .ok_or_else(|| self.error(at, format!("undefined variable: {name}")))?;
                self.fields(value, chain, at)
            }
            Operand::Sub(pipe, chain) => {
                self.tick(at, "parenthesized pipeline", 1 + chain.len())?;
                let max = self.budget.limits().depth;
                if self.depth >= max {
                    return Err(self.over(at, "parenthesized pipeline", Limit::Depth(max)));
                }
                self.depth += 1;
                let value = self.pipeline(dot, pipe);
                self.depth -= 1;
                self.fields(&value?, chain, at)
            }
            Operand::Const(c) => {
                self.tick(at, "constant", 1)?;
                Ok(match c {
                    Constant::Str(s) => {
                        self.budget
                            .charge(s.len())
                            .map_err(|l| self.over(at, "constant", l))?;
                        Value::str(s.as_bytes())
                    }
                    Constant::Int(n) => Value::Int(*n),
                    Constant::Float(f) => Value::Float(*f),
                    Constant::Bool(b) => Value::Bool(*b),
                    Constant::Nil => Value::Nil,
                })
            }
        }
    }

    /// Follows `.a.b` from `value`. Only maps have fields here.
    fn fields(&self, value: &Value, chain: &[String], at: usize) -> Result<Value> {
        let mut current = value;
        for (i, name) in chain.iter().enumerate() {
            current = match current {
                Value::Map(map) => match map.entries.get(name) {
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
