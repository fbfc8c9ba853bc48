//! Go `text/template` templates over secret values, for SealedSecret `spec.template.data` and
//! ExternalSecret `target.template`.
//!
//! Both Go tools render these with `text/template` plus Sprig (Bitnami:
//! `pkg/apis/sealedsecrets/v1alpha1/sealedsecret_expansion.go`; ESO: `pkg/template/v2`), with `.`
//! bound to a map of item name → string value. This is the subset their users write:
//!
//! - actions `{{ .key }}`, `{{ index . "my-key" }}`, pipelines `{{ .a | b64dec | upper }}`,
//!   parenthesised calls, variables (`$x := …`, `$x = …`, `$`), trim markers `{{-`/`-}}`,
//!   comments, string/raw/char/number/bool/nil constants;
//! - `if`/`else if`/`else`, `with`/`else with`, `range` over lists, maps and integers (with
//!   `$i, $v :=`, `break`, `continue`, `else`);
//! - Go's builtins (`and or not eq ne lt le gt ge len index print printf println`) and the Sprig
//!   functions listed in `funcs` (`b64enc b64dec toJson fromJson toYaml fromYaml upper lower
//!   trim default quote indent nindent replace split join dict list sha256sum …`).
//!
//! `define`/`template`/`block` are refused. No function reads the environment, files, the
//! clock or the network.
//!
//! # Budgets
//!
//! Whoever may create a SealedSecret or ExternalSecret in one namespace writes these templates,
//! and the controller that renders them holds the cluster's sealing keys, so a template is
//! hostile input. Every cost is bounded by [`Limits`] and checked before it is paid: the output
//! and every string a function builds ([`Limits::output`], 1 MiB), the bytes all functions of
//! one object read and write ([`Limits::work`]), the steps it takes ([`Limits::steps`]: actions,
//! iterations, commands, arguments; `range` over an integer counts lazily), and the nesting of
//! the template and of values ([`Limits::depth`], so no input overflows the stack). Printf
//! widths and precisions follow Go's own limit first. Share one [`Budget`] across the
//! templates of one object ([`Template::execute`]). Running out is an [`Error::Limit`] that
//! names the function and the budget.
//!
//! Errors name the line, column and function, never a value, its length or a position in it.
//!
//! ```
//! use std::collections::BTreeMap;
//! use sealer::secret::SecretBytes;
//! use sealer::template::Template;
//!
//! let template = Template::parse(r#"postgres://{{ .user }}:{{ index . "pass-word" }}@db"#).unwrap();
//! let values = BTreeMap::from([
//!     ("user".to_owned(), SecretBytes::new(b"app".to_vec())),
//!     ("pass-word".to_owned(), SecretBytes::new(b"hunter2".to_vec())),
//! ]);
//! assert_eq!(template.render(&values).unwrap().expose(), b"postgres://app:hunter2@db");
//! ```

mod budget;
mod decode;
mod error;
mod exec;
mod funcs;
mod lex;
mod parse;
mod render;
mod sink;
mod value;

#[cfg(test)]
mod hostile;

pub use budget::{Budget, Limit, Limits};
pub use error::{Error, Result};
pub use render::{Data, MissingKey, Template};
