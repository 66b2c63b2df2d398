//! A safe evaluator for the `math` transforms of mappings: arithmetic over one
//! variable `x`, never code.
//!
//! Grammar (the subset of py-expression-eval that mappings use): numbers, `x`,
//! `+ - * / %`, `^` (power, right-associative), unary minus, parentheses, and the
//! functions `floor ceil round abs sqrt exp ln log min max`. Expressions are parsed
//! once into a tree and evaluated without allocation.

use std::fmt;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    text: String,
    root: Node,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Number(f64),
    X,
    Negate(Box<Node>),
    Binary(Op, Box<Node>, Box<Node>),
    Call(Function, Vec<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Add,
    Subtract,
    Multiply,
    Divide,
    Remainder,
    Power,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Function {
    Floor,
    Ceil,
    Round,
    Abs,
    Sqrt,
    Exp,
    Ln,
    Log10,
    Min,
    Max,
}

impl Function {
    fn by_name(name: &str) -> Option<(Function, usize)> {
        Some(match name {
            "floor" => (Function::Floor, 1),
            "ceil" => (Function::Ceil, 1),
            "round" => (Function::Round, 1),
            "abs" => (Function::Abs, 1),
            "sqrt" => (Function::Sqrt, 1),
            "exp" => (Function::Exp, 1),
            "ln" => (Function::Ln, 1),
            "log" => (Function::Log10, 1),
            "min" => (Function::Min, 2),
            "max" => (Function::Max, 2),
            _ => return None,
        })
    }
}

/// Why an expression could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid math expression \"{text}\" at character {position}: {reason}")]
pub struct ExpressionError {
    text: String,
    position: usize,
    reason: String,
}

impl Expression {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Expression, ExpressionError> {
        if text.len() > MAX_EXPRESSION_BYTES {
            return Err(ExpressionError {
                text: text.chars().take(40).collect::<String>() + "...",
                position: MAX_EXPRESSION_BYTES + 1,
                reason: format!(
                    "longer than the {MAX_EXPRESSION_BYTES} bytes an expression may have"
                ),
            });
        }
        let mut parser = Parser {
            text,
            chars: text.char_indices().collect(),
            at: 0,
            depth: 0,
        };
        let root = parser.expression()?;
        parser.skip_spaces();
        if parser.at < parser.chars.len() {
            return Err(parser.error("unexpected input after the expression"));
        }
        Ok(Expression {
            text: text.to_owned(),
            root,
        })
    }

    /// Evaluates with `x`; `None` when the result is not a finite number (division by
    /// zero, square root of a negative number), in which case the value is ignored.
    pub fn evaluate(&self, x: f64) -> Option<f64> {
        let value = evaluate(&self.root, x);
        value.is_finite().then_some(value)
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn evaluate(node: &Node, x: f64) -> f64 {
    match node {
        Node::Number(n) => *n,
        Node::X => x,
        Node::Negate(inner) => -evaluate(inner, x),
        Node::Binary(op, left, right) => {
            let (a, b) = (evaluate(left, x), evaluate(right, x));
            match op {
                Op::Add => a + b,
                Op::Subtract => a - b,
                Op::Multiply => a * b,
                Op::Divide => a / b,
                Op::Remainder => a % b,
                Op::Power => a.powf(b),
            }
        }
        Node::Call(function, arguments) => {
            let a = evaluate(&arguments[0], x);
            match function {
                Function::Floor => a.floor(),
                Function::Ceil => a.ceil(),
                // Python's round() rounds half to even.
                Function::Round => a.round_ties_even(),
                Function::Abs => a.abs(),
                Function::Sqrt => a.sqrt(),
                Function::Exp => a.exp(),
                Function::Ln => a.ln(),
                Function::Log10 => a.log10(),
                Function::Min => a.min(evaluate(&arguments[1], x)),
                Function::Max => a.max(evaluate(&arguments[1], x)),
            }
        }
    }
}

/// How deeply an expression may nest (parentheses, signs, powers, function calls).
pub const MAX_EXPRESSION_DEPTH: usize = 64;
/// How long an expression may be, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 4096;

struct Parser<'a> {
    text: &'a str,
    chars: Vec<(usize, char)>,
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &str) -> ExpressionError {
        ExpressionError {
            text: self.text.to_owned(),
            position: self.at + 1,
            reason: reason.to_owned(),
        }
    }

    fn skip_spaces(&mut self) {
        while self
            .chars
            .get(self.at)
            .is_some_and(|(_, c)| c.is_whitespace())
        {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_spaces();
        self.chars.get(self.at).map(|(_, c)| *c)
    }

    fn eat(&mut self, expected: char) -> bool {
        if self.peek() == Some(expected) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expression(&mut self) -> Result<Node, ExpressionError> {
        let mut left = self.term()?;
        loop {
            let op = match self.peek() {
                Some('+') => Op::Add,
                Some('-') => Op::Subtract,
                _ => return Ok(left),
            };
            self.at += 1;
            left = Node::Binary(op, Box::new(left), Box::new(self.term()?));
        }
    }

    fn term(&mut self) -> Result<Node, ExpressionError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Some('*') => Op::Multiply,
                Some('/') => Op::Divide,
                Some('%') => Op::Remainder,
                _ => return Ok(left),
            };
            self.at += 1;
            left = Node::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
    }

    /// Every nesting passes through here, so the depth is counted here.
    fn unary(&mut self) -> Result<Node, ExpressionError> {
        self.depth += 1;
        if self.depth > MAX_EXPRESSION_DEPTH {
            return Err(self.error(&format!(
                "nested deeper than the {MAX_EXPRESSION_DEPTH} levels an expression may have"
            )));
        }
        let node = self.unary_inner();
        self.depth -= 1;
        node
    }

    fn unary_inner(&mut self) -> Result<Node, ExpressionError> {
        if self.eat('-') {
            return Ok(Node::Negate(Box::new(self.unary()?)));
        }
        if self.eat('+') {
            return self.unary();
        }
        self.power()
    }

    fn power(&mut self) -> Result<Node, ExpressionError> {
        let base = self.atom()?;
        if self.eat('^') {
            let exponent = self.unary()?;
            return Ok(Node::Binary(Op::Power, Box::new(base), Box::new(exponent)));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<Node, ExpressionError> {
        match self.peek() {
            None => Err(self.error("the expression ends too early")),
            Some('(') => {
                self.at += 1;
                let inner = self.expression()?;
                if !self.eat(')') {
                    return Err(self.error("expected \")\""));
                }
                Ok(inner)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => {
                let start = self.at;
                while self
                    .chars
                    .get(self.at)
                    .is_some_and(|(_, c)| c.is_ascii_digit() || *c == '.')
                {
                    self.at += 1;
                }
                // Exponent part: 1e-3.
                if self
                    .chars
                    .get(self.at)
                    .is_some_and(|(_, c)| *c == 'e' || *c == 'E')
                {
                    let save = self.at;
                    self.at += 1;
                    if self
                        .chars
                        .get(self.at)
                        .is_some_and(|(_, c)| *c == '-' || *c == '+')
                    {
                        self.at += 1;
                    }
                    if self
                        .chars
                        .get(self.at)
                        .is_some_and(|(_, c)| c.is_ascii_digit())
                    {
                        while self
                            .chars
                            .get(self.at)
                            .is_some_and(|(_, c)| c.is_ascii_digit())
                        {
                            self.at += 1;
                        }
                    } else {
                        self.at = save;
                    }
                }
                let literal: String = self.chars[start..self.at].iter().map(|(_, c)| c).collect();
                literal.parse().map(Node::Number).map_err(|_| {
                    self.at = start;
                    self.error(&format!("\"{literal}\" is not a number"))
                })
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let start = self.at;
                while self
                    .chars
                    .get(self.at)
                    .is_some_and(|(_, c)| c.is_ascii_alphanumeric() || *c == '_')
                {
                    self.at += 1;
                }
                let name: String = self.chars[start..self.at].iter().map(|(_, c)| c).collect();
                if name == "x" {
                    return Ok(Node::X);
                }
                let Some((function, arity)) = Function::by_name(&name) else {
                    self.at = start;
                    return Err(self.error(&format!("unknown name \"{name}\" (only x and the functions floor, ceil, round, abs, sqrt, exp, ln, log, min, max)")));
                };
                if !self.eat('(') {
                    return Err(self.error(&format!("expected \"(\" after {name}")));
                }
                let mut arguments = vec![self.expression()?];
                while self.eat(',') {
                    arguments.push(self.expression()?);
                }
                if !self.eat(')') {
                    return Err(self.error("expected \")\""));
                }
                if arguments.len() != arity {
                    return Err(self.error(&format!(
                        "{name} takes {arity} argument(s), got {}",
                        arguments.len()
                    )));
                }
                Ok(Node::Call(function, arguments))
            }
            Some(c) => Err(self.error(&format!("unexpected character \"{c}\""))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str, x: f64) -> Option<f64> {
        Expression::parse(text).unwrap().evaluate(x)
    }

    #[test]
    fn kuksa_examples() {
        assert_eq!(eval("floor((x*40)-100)", 2.0), Some(-20.0));
        assert_eq!(eval("(x+100)/40", -20.0), Some(2.0));
        assert_eq!(eval("floor(abs(x/5))", -12.0), Some(2.0));
        assert_eq!(eval("floor(x+0.5)", 2.5), Some(3.0));
    }

    #[test]
    fn precedence_and_power() {
        assert_eq!(eval("1 + 2 * 3", 0.0), Some(7.0));
        assert_eq!(eval("2 ^ 3 ^ 2", 0.0), Some(512.0));
        assert_eq!(eval("-x ^ 2", 3.0), Some(-9.0));
        assert_eq!(eval("x * 1.609344", 100.0), Some(160.9344));
        assert_eq!(eval("max(x, 0) + min(x, 10)", -5.0), Some(-5.0));
        assert_eq!(eval("round(x)", 2.5), Some(2.0));
        assert_eq!(eval("1e3 * x", 2.0), Some(2000.0));
    }

    #[test]
    fn failures_are_none_not_panics() {
        assert_eq!(eval("1 / x", 0.0), None);
        assert_eq!(eval("sqrt(x)", -1.0), None);
    }

    #[test]
    fn nesting_and_length_are_bounded() {
        // 10,000 nested parentheses used to overflow the stack and abort; now the
        // length refuses them, and 2,000 (within the length) the depth.
        let deep = format!("{}x{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(Expression::parse(&deep).is_err());
        let deep = format!("{}x{}", "(".repeat(2_000), ")".repeat(2_000));
        let error = Expression::parse(&deep).unwrap_err().to_string();
        assert!(
            error.contains("nested deeper than the 64 levels"),
            "{error}"
        );
        let signs = format!("{}x", "-".repeat(4_000));
        assert!(Expression::parse(&signs).is_err());
        let long = "x+".repeat(3000) + "x";
        let error = Expression::parse(&long).unwrap_err().to_string();
        assert!(error.contains("4096 bytes"), "{error}");
        let fine = format!("{}x{}", "(".repeat(60), ")".repeat(60));
        assert_eq!(Expression::parse(&fine).unwrap().evaluate(2.0), Some(2.0));
    }

    #[test]
    fn code_is_refused() {
        for text in [
            "__import__('os')",
            "x; 1",
            "exec(x)",
            "x +",
            "floor x",
            "min(x)",
        ] {
            let error = Expression::parse(text).unwrap_err();
            assert!(
                error.to_string().starts_with("invalid math expression"),
                "{error}"
            );
        }
    }
}
