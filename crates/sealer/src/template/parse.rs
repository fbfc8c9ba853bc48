//! Builds the tree of a template from its tokens, as Go's `text/template/parse` does for the
//! subset sealkit runs: text, actions with pipelines and variables, `if`/`else if`/`else`,
//! `range` (with `break`/`continue`), `with`. `define`, `template` and `block` are refused.
//!
//! Nesting is bounded by [`Limits::depth`]: each `if`, `with` and `range` body and each
//! parenthesised pipeline is one level deeper, and the parser refuses to go past the limit
//! before it recurses, so no template overflows the stack however deep it nests. (`else if`
//! chains are a list of branches, not a nesting.)

use super::budget::{Limit, Limits};
use super::error::{Error, Result, limit_error, position};
use super::lex::{Item, Spanned, Token};

/// A node of the template tree.
#[derive(Debug)]
pub(crate) enum Node {
    /// Literal text and its byte offset.
    Text { text: String, at: usize },
    /// `{{ pipeline }}`: prints the value unless the pipeline declares variables.
    Action(Pipeline),
    /// `{{ if }}` / `{{ with }}` chains: the first branch whose pipeline is true runs.
    Branch {
        /// `with` rebinds `.` to the pipeline's value inside the branch.
        with: bool,
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    /// `{{ range pipeline }} … {{ else }} … {{ end }}`.
    Range {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    /// `{{ break }}`.
    Break,
    /// `{{ continue }}`.
    Continue,
}

/// `$a, $b := cmd | cmd …`.
#[derive(Debug)]
pub(crate) struct Pipeline {
    /// Byte offset of the action, for error positions.
    pub at: usize,
    /// Declared or assigned variables.
    pub vars: Vec<String>,
    /// `=` rather than `:=`.
    pub assign: bool,
    /// The commands, each feeding the next as its last argument.
    pub commands: Vec<Command>,
}

/// One command of a pipeline: a function and its arguments, or a single operand.
#[derive(Debug)]
pub(crate) struct Command {
    pub at: usize,
    pub args: Vec<Operand>,
}

/// An argument.
#[derive(Debug)]
pub(crate) enum Operand {
    /// A function name.
    Func(String),
    /// `.a.b` (an empty chain is `.`).
    Field(Vec<String>),
    /// `$x.a.b`.
    Var(String, Vec<String>),
    /// `(pipeline).a.b`.
    Sub(Box<Pipeline>, Vec<String>),
    /// A constant.
    Const(Constant),
}

/// A literal in the template.
#[derive(Debug, Clone)]
pub(crate) enum Constant {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
}

/// How a list of nodes ended.
enum Stop {
    Eof,
    End(usize),
    Else(Vec<Spanned>, usize),
}

/// Parses the lexed template, nesting at most `limits.depth` levels.
pub(crate) fn parse(src: &str, items: Vec<Item>, limits: &Limits) -> Result<Vec<Node>> {
    let mut parser = Parser {
        src,
        items: items.into_iter(),
        range_depth: 0,
        max_depth: limits.depth,
    };
    let (nodes, end) = parser.list(0)?;
    match end {
        Stop::Eof => Ok(nodes),
        Stop::End(at) => Err(parser.error(at, "unexpected {{end}}")),
        Stop::Else(_, at) => Err(parser.error(at, "unexpected {{else}}")),
    }
}

struct Parser<'a> {
    src: &'a str,
    items: std::vec::IntoIter<Item>,
    range_depth: usize,
    max_depth: usize,
}

impl Parser<'_> {
    fn error(&self, at: usize, reason: impl Into<String>) -> Error {
        let (line, column) = position(self.src, at);
        Error::Parse {
            line,
            column,
            reason: reason.into(),
        }
    }

    /// The depth one level below `depth`, unless that passes the budget.
    fn deeper(&self, depth: usize, at: usize, what: &str) -> Result<usize> {
        if depth >= self.max_depth {
            return Err(limit_error(
                self.src,
                at,
                what,
                Limit::Depth(self.max_depth),
            ));
        }
        Ok(depth + 1)
    }

    /// Nodes until `{{end}}`, `{{else …}}` or the end of the template, `depth` levels down.
    fn list(&mut self, depth: usize) -> Result<(Vec<Node>, Stop)> {
        let mut nodes = Vec::new();
        while let Some(item) = self.items.next() {
            let (tokens, at) = match item {
                Item::Text { text, at } => {
                    nodes.push(Node::Text { text, at });
                    continue;
                }
                Item::Action { tokens, at } => (tokens, at),
            };
            let keyword = match tokens.first() {
                Some(Spanned {
                    token: Token::Ident(word),
                    ..
                }) => word.as_str(),
                None => return Err(self.error(at, "missing value for command")),
                _ => "",
            };
            match keyword {
                "end" => {
                    self.expect_empty(&tokens[1..], at, "end")?;
                    return Ok((nodes, Stop::End(at)));
                }
                "else" => return Ok((nodes, Stop::Else(tokens[1..].to_vec(), at))),
                "if" | "with" => {
                    nodes.push(self.branch(keyword == "with", tokens[1..].to_vec(), at, depth)?);
                }
                "range" => nodes.push(self.range(&tokens[1..], at, depth)?),
                "break" | "continue" => {
                    self.expect_empty(&tokens[1..], at, keyword)?;
                    if self.range_depth == 0 {
                        return Err(
                            self.error(at, format!("{{{{{keyword}}}}} outside {{{{range}}}}"))
                        );
                    }
                    nodes.push(if keyword == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    });
                }
                "define" | "template" | "block" => {
                    return Err(self.error(at, format!("{{{{{keyword}}}}} is not supported")));
                }
                _ => nodes.push(Node::Action(self.pipeline(&tokens, at, true, depth)?)),
            }
        }
        Ok((nodes, Stop::Eof))
    }

    fn expect_empty(&self, rest: &[Spanned], at: usize, what: &str) -> Result<()> {
        match rest.first() {
            None => Ok(()),
            Some(t) => Err(self.error(t.at.max(at), format!("unexpected token after {what}"))),
        }
    }

    /// `if`/`with` with its `else if`/`else with` chain, at `depth`.
    fn branch(
        &mut self,
        with: bool,
        mut cond: Vec<Spanned>,
        mut at: usize,
        depth: usize,
    ) -> Result<Node> {
        let keyword = if with { "with" } else { "if" };
        let inner = self.deeper(depth, at, keyword)?;
        let mut branches = Vec::new();
        loop {
            let pipe = self.pipeline(&cond, at, true, depth)?;
            let (body, end) = self.list(inner)?;
            branches.push((pipe, body));
            match end {
                Stop::End(_) => {
                    return Ok(Node::Branch {
                        with,
                        branches,
                        otherwise: Vec::new(),
                    });
                }
                Stop::Eof => {
                    return Err(self.error(
                        at,
                        format!("unexpected EOF: {{{{{keyword}}}}} without {{{{end}}}}"),
                    ));
                }
                Stop::Else(rest, else_at) => match rest.first() {
                    Some(Spanned {
                        token: Token::Ident(word),
                        ..
                    }) if word == keyword => {
                        cond = rest[1..].to_vec();
                        at = else_at;
                    }
                    Some(_) => {
                        return Err(self.error(
                            else_at,
                            format!("unexpected token after else in {{{{{keyword}}}}}"),
                        ));
                    }
                    None => {
                        let (otherwise, end) = self.list(inner)?;
                        return match end {
                            Stop::End(_) => Ok(Node::Branch {
                                with,
                                branches,
                                otherwise,
                            }),
                            Stop::Else(_, a) => {
                                Err(self.error(a, "expected {{end}} after {{else}}"))
                            }
                            Stop::Eof => {
                                Err(self.error(else_at, "unexpected EOF: {{else}} without {{end}}"))
                            }
                        };
                    }
                },
            }
        }
    }

    fn range(&mut self, cond: &[Spanned], at: usize, depth: usize) -> Result<Node> {
        let inner = self.deeper(depth, at, "range")?;
        let pipe = self.pipeline(cond, at, true, depth)?;
        if pipe.vars.len() > 2 {
            return Err(self.error(at, "too many declarations in range"));
        }
        self.range_depth += 1;
        let body = self.list(inner);
        self.range_depth -= 1;
        let (body, end) = body?;
        let otherwise = match end {
            Stop::End(_) => Vec::new(),
            Stop::Eof => return Err(self.error(at, "unexpected EOF: {{range}} without {{end}}")),
            Stop::Else(rest, else_at) => {
                self.expect_empty(&rest, else_at, "else")?;
                let (otherwise, end) = self.list(inner)?;
                if !matches!(end, Stop::End(_)) {
                    return Err(self.error(else_at, "expected {{end}} after {{else}} in {{range}}"));
                }
                otherwise
            }
        };
        Ok(Node::Range {
            pipe,
            body,
            otherwise,
        })
    }

    /// A pipeline made of all of `tokens`, `depth` levels down; `decl` allows a variable
    /// declaration in front.
    fn pipeline(
        &self,
        tokens: &[Spanned],
        at: usize,
        decl: bool,
        depth: usize,
    ) -> Result<Pipeline> {
        let mut rest = tokens;
        let mut vars = Vec::new();
        let mut assign = false;
        if decl {
            let mut probe = rest;
            let mut names = Vec::new();
            while let [
                Spanned {
                    token: Token::Var(name),
                    ..
                },
                tail @ ..,
            ] = probe
            {
                names.push(name.clone());
                match tail {
                    [
                        Spanned {
                            token: Token::Comma,
                            ..
                        },
                        more @ ..,
                    ] => probe = more,
                    [
                        Spanned {
                            token: t @ (Token::Declare | Token::Assign),
                            ..
                        },
                        more @ ..,
                    ] => {
                        assign = *t == Token::Assign;
                        vars = std::mem::take(&mut names);
                        rest = more;
                        break;
                    }
                    _ => break,
                }
            }
        }
        let mut commands = Vec::new();
        let mut pos = 0;
        loop {
            let (command, used) = self.command(&rest[pos..], at, depth)?;
            commands.push(command);
            pos += used;
            match rest.get(pos) {
                None => break,
                Some(Spanned {
                    token: Token::Pipe, ..
                }) => pos += 1,
                Some(t) => return Err(self.error(t.at, "unexpected token in pipeline")),
            }
        }
        Ok(Pipeline {
            at,
            vars,
            assign,
            commands,
        })
    }

    /// One command: operands up to `|`, `)` or the end. Returns it and the tokens used.
    fn command(&self, tokens: &[Spanned], at: usize, depth: usize) -> Result<(Command, usize)> {
        let mut args = Vec::new();
        let mut i = 0;
        while let Some(t) = tokens.get(i) {
            if matches!(t.token, Token::Pipe | Token::RParen) {
                break;
            }
            let (operand, used) = self.operand(&tokens[i..], at, depth)?;
            args.push(operand);
            i += used;
        }
        if args.is_empty() {
            let where_ = tokens.first().map_or(at, |t| t.at);
            return Err(self.error(where_, "missing value for command"));
        }
        let cmd_at = tokens.first().map_or(at, |t| t.at);
        Ok((Command { at: cmd_at, args }, i))
    }

    fn operand(&self, tokens: &[Spanned], at: usize, depth: usize) -> Result<(Operand, usize)> {
        let Some(first) = tokens.first() else {
            return Err(self.error(at, "missing value for command"));
        };
        let (operand, mut used) = match &first.token {
            Token::Ident(name) => (Operand::Func(name.clone()), 1),
            Token::Dot => (Operand::Field(Vec::new()), 1),
            Token::Field(name) => (Operand::Field(vec![name.clone()]), 1),
            Token::Var(name) => (Operand::Var(name.clone(), Vec::new()), 1),
            Token::Str(s) => (Operand::Const(Constant::Str(s.clone())), 1),
            Token::Int(n) => (Operand::Const(Constant::Int(*n)), 1),
            Token::Float(f) => (Operand::Const(Constant::Float(*f)), 1),
            Token::Bool(b) => (Operand::Const(Constant::Bool(*b)), 1),
            Token::Nil => (Operand::Const(Constant::Nil), 1),
            Token::LParen => {
                // Checked before the scan for the closing paren, so nested parens cost at most
                // `max_depth` scans.
                let inner_depth = self.deeper(depth, first.at, "parenthesized pipeline")?;
                let mut open = 0usize;
                let close = tokens
                    .iter()
                    .position(|t| {
                        match t.token {
                            Token::LParen => open += 1,
                            Token::RParen => open = open.saturating_sub(1),
                            _ => {}
                        }
                        open == 0
                    })
                    .ok_or_else(|| self.error(first.at, "unclosed left paren"))?;
                let inner = self.pipeline(&tokens[1..close], first.at, true, inner_depth)?;
                (Operand::Sub(Box::new(inner), Vec::new()), close + 1)
            }
            _ => return Err(self.error(first.at.max(at), "unexpected token in operand")),
        };
        // A field chain continues only without whitespace: `.a.b`, `$x.a`, `(f).a`.
        let mut chain = Vec::new();
        while let Some(Spanned {
            token: Token::Field(name),
            spaced: false,
            ..
        }) = tokens.get(used)
        {
            chain.push(name.clone());
            used += 1;
        }
        let operand = match operand {
            Operand::Field(mut fields) => {
                fields.extend(chain);
                Operand::Field(fields)
            }
            Operand::Var(name, _) => Operand::Var(name, chain),
            Operand::Sub(p, _) => Operand::Sub(p, chain),
            other if chain.is_empty() => other,
            _ => return Err(self.error(first.at, "unexpected field access")),
        };
        Ok((operand, used))
    }
}
