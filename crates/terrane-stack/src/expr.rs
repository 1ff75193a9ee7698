//! The `${...}` expression language: references, a few operators and functions.
//!
//! Grammar (inside `${ }`):
//! ```text
//! expr    := or ( '?' expr ':' expr )?
//! or      := and ( '||' and )*
//! and     := cmp ( '&&' cmp )*
//! cmp     := unary ( ('==' | '!=') unary )?
//! unary   := '!' unary | postfix
//! postfix := primary ( '.' IDENT | '[' expr ']' | '[' '*' ']' )*
//! primary := STRING | NUMBER | 'true' | 'false' | 'null' | IDENT '(' args ')' | IDENT | '(' expr ')'
//! ```

use std::fmt;

/// A string as written in a stack: literal text and `${}` interpolations.
#[derive(Clone, Debug, PartialEq)]
pub enum TemplatePart {
    Literal(String),
    /// An expression and the character offset of its `${` in the string.
    Interp(Expr, usize),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Str(String),
    Number(f64),
    Bool(bool),
    Null,
    /// `a.b["c"][0]` as a root name and the steps after it.
    Path(String, Vec<Step>),
    /// A function call, then steps applied to its result.
    Call(String, Vec<Expr>, Vec<Step>),
    Not(Box<Expr>),
    Eq(Box<Expr>, Box<Expr>),
    Ne(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Attr(String),
    Index(Box<Expr>),
    Splat,
}

/// A syntax error inside one string, at a character offset from its start.
#[derive(Clone, Debug, PartialEq)]
pub struct ExprError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Splits a string into literal parts and interpolations. `$${` writes a literal `${`.
pub fn parse_template(s: &str) -> Result<Vec<TemplatePart>, ExprError> {
    let chars: Vec<char> = s.chars().collect();
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' && chars.get(i + 1) == Some(&'$') && chars.get(i + 2) == Some(&'{') {
            lit.push_str("${");
            i += 3;
            continue;
        }
        if chars[i] == '$' && chars.get(i + 1) == Some(&'{') {
            let start = i;
            let mut p = Parser {
                chars: &chars,
                pos: i + 2,
            };
            let expr = p.expr()?;
            p.skip_ws();
            if p.peek() != Some('}') {
                return Err(p.error(match p.peek() {
                    None => "unterminated `${`: expected `}`".to_string(),
                    Some(c) => format!("unexpected `{c}` in expression: expected `}}`"),
                }));
            }
            if !lit.is_empty() {
                parts.push(TemplatePart::Literal(std::mem::take(&mut lit)));
            }
            parts.push(TemplatePart::Interp(expr, start));
            i = p.pos + 1;
            continue;
        }
        lit.push(chars[i]);
        i += 1;
    }
    if !lit.is_empty() || parts.is_empty() {
        parts.push(TemplatePart::Literal(lit));
    }
    Ok(parts)
}

struct Parser<'a> {
    chars: &'a [char],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek2(&self) -> Option<char> {
        self.chars.get(self.pos + 1).copied()
    }

    fn error(&self, message: impl Into<String>) -> ExprError {
        ExprError {
            offset: self.pos,
            message: message.into(),
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, s: &str) -> bool {
        self.skip_ws();
        let n = s.chars().count();
        if self.chars.len() >= self.pos + n
            && self.chars[self.pos..self.pos + n]
                .iter()
                .copied()
                .eq(s.chars())
        {
            self.pos += n;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, s: &str) -> Result<(), ExprError> {
        if self.eat(s) {
            Ok(())
        } else {
            Err(self.error(match self.peek() {
                Some(c) => format!("expected `{s}`, found `{c}`"),
                None => format!("expected `{s}`, found the end of the string"),
            }))
        }
    }

    fn expr(&mut self) -> Result<Expr, ExprError> {
        let cond = self.or()?;
        if self.eat("?") {
            let a = self.expr()?;
            self.expect(":")?;
            let b = self.expr()?;
            return Ok(Expr::Cond(Box::new(cond), Box::new(a), Box::new(b)));
        }
        Ok(cond)
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.and()?;
        while self.eat("||") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.cmp()?;
        while self.eat("&&") {
            left = Expr::And(Box::new(left), Box::new(self.cmp()?));
        }
        Ok(left)
    }

    fn cmp(&mut self) -> Result<Expr, ExprError> {
        let left = self.unary()?;
        if self.eat("==") {
            return Ok(Expr::Eq(Box::new(left), Box::new(self.unary()?)));
        }
        if self.eat("!=") {
            return Ok(Expr::Ne(Box::new(left), Box::new(self.unary()?)));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        self.skip_ws();
        if self.peek() == Some('!') && self.peek2() != Some('=') {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.postfix()
    }

    fn steps(&mut self) -> Result<Vec<Step>, ExprError> {
        let mut steps = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    let name = self
                        .ident()
                        .ok_or_else(|| self.error("expected an attribute name after `.`"))?;
                    steps.push(Step::Attr(name));
                }
                Some('[') => {
                    self.pos += 1;
                    if self.eat("*") {
                        steps.push(Step::Splat);
                    } else {
                        steps.push(Step::Index(Box::new(self.expr()?)));
                    }
                    self.expect("]")?;
                }
                _ => return Ok(steps),
            }
        }
    }

    fn postfix(&mut self) -> Result<Expr, ExprError> {
        self.skip_ws();
        match self.peek() {
            Some('"') | Some('\'') => {
                let s = self.string()?;
                Ok(Expr::Str(s))
            }
            Some('(') => {
                self.pos += 1;
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            Some(c)
                if c.is_ascii_digit()
                    || (c == '-' && self.peek2().is_some_and(|d| d.is_ascii_digit())) =>
            {
                let start = self.pos;
                self.pos += 1;
                while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                text.parse::<f64>()
                    .map(Expr::Number)
                    .map_err(|_| ExprError {
                        offset: start,
                        message: format!("`{text}` is not a number"),
                    })
            }
            Some(c) if c.is_alphabetic() || c == '_' => {
                let name = self.ident().unwrap_or_default();
                match name.as_str() {
                    "true" => return Ok(Expr::Bool(true)),
                    "false" => return Ok(Expr::Bool(false)),
                    "null" => return Ok(Expr::Null),
                    _ => {}
                }
                self.skip_ws();
                if self.peek() == Some('(') {
                    self.pos += 1;
                    let mut args = Vec::new();
                    if !self.eat(")") {
                        loop {
                            args.push(self.expr()?);
                            if self.eat(")") {
                                break;
                            }
                            self.expect(",")?;
                        }
                    }
                    let steps = self.steps()?;
                    return Ok(Expr::Call(name, args, steps));
                }
                let steps = self.steps()?;
                Ok(Expr::Path(name, steps))
            }
            Some('}') | None => {
                Err(self.error("empty expression: expected a reference such as `${var.name}`"))
            }
            Some(c) => Err(self.error(format!("unexpected `{c}` in expression"))),
        }
    }

    fn ident(&mut self) -> Option<String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-')
        {
            self.pos += 1;
        }
        (self.pos > start).then(|| self.chars[start..self.pos].iter().collect())
    }

    fn string(&mut self) -> Result<String, ExprError> {
        let quote = self.peek().unwrap_or('"');
        let start = self.pos;
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(ExprError {
                        offset: start,
                        message: "unterminated string".into(),
                    });
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(c) => s.push(c),
                        None => continue,
                    }
                    self.pos += 1;
                }
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(s);
                }
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_one_literal() {
        assert_eq!(
            parse_template("10.0.0.0/16").unwrap(),
            vec![TemplatePart::Literal("10.0.0.0/16".into())]
        );
    }

    #[test]
    fn interpolation_with_index_and_attr() {
        let parts = parse_template("id-${subnet[\"a\"].id}").unwrap();
        assert_eq!(parts.len(), 2);
        match &parts[1] {
            TemplatePart::Interp(Expr::Path(root, steps), 3) => {
                assert_eq!(root, "subnet");
                assert_eq!(steps.len(), 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn conditional_and_comparison() {
        let parts = parse_template("${var.env == \"prod\" ? 3 : 1}").unwrap();
        assert!(matches!(&parts[0], TemplatePart::Interp(Expr::Cond(..), 0)));
    }

    #[test]
    fn escaped_dollar_is_literal() {
        assert_eq!(
            parse_template("$${x}").unwrap(),
            vec![TemplatePart::Literal("${x}".into())]
        );
    }

    #[test]
    fn unterminated_reports_offset() {
        let err = parse_template("abc ${vpc.id").unwrap_err();
        assert_eq!(err.offset, 12);
        assert!(err.message.contains("expected `}`"), "{}", err.message);
    }
}
