//! GRUB 2's script language: the lexer of `grub-core/script/yylex.l` and
//! the grammar of `grub-core/script/parser.y`, producing a small syntax
//! tree that [`super`] evaluates.
//!
//! Lexer rules kept from `yylex.l`:
//! - Blanks are space and tab; `\n`, `;`, `|`, `&`, `||`, `&&`, `;;`, `<`,
//!   `>`, `{` and `}` are tokens of their own (`CHAR` excludes them), so
//!   `menuentry x{` is three tokens.
//! - `#` starts a comment only where a token starts (`COMMENT` beats
//!   `WORD` there); inside a word it is an ordinary character.
//! - A word is a run of plain characters, `'…'` (literal, may span
//!   lines), `"…"` (`\$`, `\\`, `\"` escapes, `\`-newline removed, other
//!   `\c` kept as both characters, `$var` expanded), `\c` escapes (the
//!   `SPLIT` state keeps `\c` and `wildcard_unescape` in `execute.c` drops
//!   the `\`, except `\xHH`, which stays), `\`-newline (removed: line
//!   continuation) and variables `$name`, `${name}`, `$1`, `$?`, `$#`,
//!   `$*`, `$@`. A `$` that starts no variable is a syntax error (the `.`
//!   rule returns `GRUB_PARSER_TOKEN_BAD`).
//! - Reserved words (`if`, `then`, `fi`, `function`, …) are recognised
//!   only when the whole token is the bare word; as arguments they are
//!   plain words (`argument:` in `parser.y`).
//! - `read_config_file` drops `\r` (`grub_file_getline`) before lexing.
//!
//! Parse errors: GRUB parses one top-level line (plus the lines an open
//! block or quote pulls in) at a time and discards it on a syntax error
//! (`grub_normal_parse_line`); parsing resumes with the next line. This
//! parser does the same: the statement is dropped, a diagnostic is kept
//! and parsing restarts after the line the error was found on.

use std::rc::Rc;

/// Most tokens read from one file.
pub const MAX_TOKENS: usize = 1 << 18;
/// Deepest nesting of blocks, `if`s and loops in one file.
pub const MAX_NESTING: usize = 64;
/// Longest word, after escapes.
pub const MAX_WORD: usize = 64 * 1024;

/// A piece of a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Unquoted text, escapes resolved.
    Lit(String),
    /// Text from `'…'` or `"…"`: never split, and a word with one is an
    /// argument even when it is empty.
    Quoted(String),
    /// `$name`: unquoted values are split at blanks, quoted ones are not.
    Var { name: String, quoted: bool },
}

/// One word: its pieces and the raw text it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub parts: Vec<Part>,
    pub raw: String,
    pub line: usize,
}

impl Word {
    /// The reserved word this token is, if it is one (bare text only).
    pub fn keyword(&self) -> Option<&str> {
        const KEYWORDS: &[&str] = &[
            "case", "do", "done", "elif", "else", "esac", "fi", "for", "if", "in", "select", "then", "until", "while",
            "function",
        ];
        KEYWORDS.iter().copied().find(|k| *k == self.raw)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokKind {
    Word(Word),
    Newline,
    Semi,
    LBrace,
    RBrace,
    /// `|`, `&`, `||`, `&&`, `;;`, `<`, `>`, `[[`, `]]`: tokens GRUB lexes
    /// but no rule of its grammar accepts.
    Op(&'static str),
    /// A character sequence the lexer rejects; the message says why.
    Bad(String),
    Eof,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokKind,
    pub line: usize,
}

/// Splits a script into tokens. The result always ends with `Eof`; a
/// `Bad` token is produced where `yylex.l` fails, and lexing goes on
/// after it.
pub fn lex(src: &str) -> Vec<Token> {
    let mut lx = Lexer { s: src.as_bytes(), i: 0, line: 1, out: Vec::new() };
    lx.run();
    lx.out
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
    line: usize,
    out: Vec<Token>,
}

fn is_special_char(c: u8) -> bool {
    matches!(c, b'{' | b'}' | b'|' | b'&' | b';' | b'<' | b'>' | b' ' | b'\t' | b'\n')
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl Lexer<'_> {
    fn peek(&self, k: usize) -> Option<u8> {
        self.s.get(self.i + k).copied()
    }

    fn push(&mut self, kind: TokKind, line: usize) {
        self.out.push(Token { kind, line });
    }

    fn run(&mut self) {
        // Every pass consumes at least one byte or ends the loop.
        while self.i < self.s.len() {
            if self.out.len() >= MAX_TOKENS {
                let line = self.line;
                self.push(
                    TokKind::Bad(format!("more than {MAX_TOKENS} tokens: the rest of the file is not read")),
                    line,
                );
                self.i = self.s.len();
                break;
            }
            let c = self.s[self.i];
            let line = self.line;
            match c {
                b' ' | b'\t' | b'\r' => self.i += 1,
                b'#' => {
                    while self.i < self.s.len() && self.s[self.i] != b'\n' {
                        self.i += 1;
                    }
                }
                b'\n' => {
                    self.i += 1;
                    self.line += 1;
                    self.push(TokKind::Newline, line);
                }
                b'{' => {
                    self.i += 1;
                    self.push(TokKind::LBrace, line);
                }
                b'}' => {
                    self.i += 1;
                    self.push(TokKind::RBrace, line);
                }
                b'|' | b'&' | b';' | b'<' | b'>' => {
                    let two = self.peek(1);
                    let (op, len): (&'static str, usize) = match (c, two) {
                        (b'|', Some(b'|')) => ("||", 2),
                        (b'&', Some(b'&')) => ("&&", 2),
                        (b';', Some(b';')) => (";;", 2),
                        (b'|', _) => ("|", 1),
                        (b'&', _) => ("&", 1),
                        (b';', _) => (";", 1),
                        (b'<', _) => ("<", 1),
                        _ => (">", 1),
                    };
                    self.i += len;
                    if op == ";" {
                        self.push(TokKind::Semi, line);
                    } else {
                        self.push(TokKind::Op(op), line);
                    }
                }
                _ => self.word(),
            }
        }
        let line = self.line;
        self.push(TokKind::Eof, line);
    }

    /// One word (see the module docs). On a lexer error the rest of the
    /// word is skipped and a `Bad` token stands for it.
    fn word(&mut self) {
        let start = self.i;
        let line = self.line;
        let mut parts: Vec<Part> = Vec::new();
        let mut len = 0usize;
        let mut lit = String::new();
        let mut bytes: Vec<u8> = Vec::new();
        let flush_lit = |bytes: &mut Vec<u8>, lit: &mut String| {
            if !bytes.is_empty() {
                lit.push_str(&String::from_utf8_lossy(bytes));
                bytes.clear();
            }
        };
        macro_rules! flush {
            () => {{
                flush_lit(&mut bytes, &mut lit);
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
            }};
        }
        while let Some(c) = self.peek(0) {
            if is_special_char(c) {
                break;
            }
            if len > MAX_WORD {
                return self.bad_word(start, line, format!("word longer than {MAX_WORD} bytes"));
            }
            match c {
                b'\r' => self.i += 1,
                b'\\' => match self.peek(1) {
                    None => return self.bad_word(start, line, "`\\` at the end of the file".into()),
                    Some(b'\n') => {
                        self.i += 2;
                        self.line += 1;
                    }
                    Some(b'x')
                        if self.peek(2).is_some_and(|h| h.is_ascii_hexdigit())
                            && self.peek(3).is_some_and(|h| h.is_ascii_hexdigit()) =>
                    {
                        bytes.extend_from_slice(&self.s[self.i..self.i + 4]);
                        self.i += 4;
                        len += 4;
                    }
                    Some(e) => {
                        bytes.push(e);
                        self.i += 2;
                        len += 1;
                    }
                },
                b'\'' => {
                    flush!();
                    self.i += 1;
                    let from = self.i;
                    while self.i < self.s.len() && self.s[self.i] != b'\'' {
                        if self.s[self.i] == b'\n' {
                            self.line += 1;
                        }
                        self.i += 1;
                    }
                    if self.i >= self.s.len() {
                        return self.bad_word(start, line, "unterminated `'` quote".into());
                    }
                    let text = String::from_utf8_lossy(&self.s[from..self.i]).into_owned();
                    len += text.len();
                    parts.push(Part::Quoted(text));
                    self.i += 1;
                }
                b'"' => {
                    flush!();
                    self.i += 1;
                    if let Err(msg) = self.dquote(&mut parts, &mut len) {
                        return self.bad_word(start, line, msg);
                    }
                }
                b'$' => {
                    if self.peek(1) == Some(b'"') {
                        // `$"…"` (I18NQUOTE): gettext of the text; without
                        // translations it is the text itself, read here as
                        // a double-quoted string.
                        flush!();
                        self.i += 2;
                        if let Err(msg) = self.dquote(&mut parts, &mut len) {
                            return self.bad_word(start, line, msg);
                        }
                        continue;
                    }
                    flush!();
                    match self.variable() {
                        Some(name) => {
                            len += name.len();
                            parts.push(Part::Var { name, quoted: false });
                        }
                        None => return self.bad_word(start, line, "`$` does not start a variable name".into()),
                    }
                }
                _ => {
                    bytes.push(c);
                    self.i += 1;
                    len += 1;
                }
            }
        }
        flush!();
        let raw = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        let kind = match raw.as_str() {
            "[[" => TokKind::Op("[["),
            "]]" => TokKind::Op("]]"),
            _ => TokKind::Word(Word { parts, raw, line }),
        };
        self.push(kind, line);
    }

    /// After `$`: the variable name of `$name`, `${name}`, `$1`, `${1}`,
    /// `$?`… (the `VAR` state); `None` when there is none.
    fn variable(&mut self) -> Option<String> {
        let rest = &self.s[self.i + 1..];
        let (name_len, skip) = if rest.first() == Some(&b'{') {
            let inner = &rest[1..];
            let n = name_at(inner)?;
            if inner.get(n) != Some(&b'}') {
                return None;
            }
            (n, 2)
        } else {
            (name_at(rest)?, 0)
        };
        let from = self.i + 1 + usize::from(skip > 0);
        let name = String::from_utf8_lossy(&self.s[from..from + name_len]).into_owned();
        self.i += 1 + name_len + skip;
        Some(name)
    }

    /// Inside `"…"` (the `DQUOTE` state), after the opening quote.
    fn dquote(&mut self, parts: &mut Vec<Part>, len: &mut usize) -> Result<(), String> {
        let mut text: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek(0) else {
                return Err("unterminated `\"` quote".into());
            };
            if *len + text.len() > MAX_WORD {
                return Err(format!("word longer than {MAX_WORD} bytes"));
            }
            match c {
                b'"' => {
                    self.i += 1;
                    *len += text.len();
                    parts.push(Part::Quoted(String::from_utf8_lossy(&text).into_owned()));
                    return Ok(());
                }
                b'\\' => match self.peek(1) {
                    Some(e @ (b'$' | b'\\' | b'"')) => {
                        text.push(e);
                        self.i += 2;
                    }
                    Some(b'\n') => {
                        self.i += 2;
                        self.line += 1;
                    }
                    _ => {
                        text.push(b'\\');
                        self.i += 1;
                    }
                },
                b'$' => {
                    *len += text.len();
                    parts.push(Part::Quoted(String::from_utf8_lossy(&std::mem::take(&mut text)).into_owned()));
                    match self.variable() {
                        Some(name) => parts.push(Part::Var { name, quoted: true }),
                        None => return Err("`$` inside `\"…\"` does not start a variable name".into()),
                    }
                }
                b'\r' => self.i += 1,
                b'\n' => {
                    text.push(b'\n');
                    self.i += 1;
                    self.line += 1;
                }
                _ => {
                    text.push(c);
                    self.i += 1;
                }
            }
        }
    }

    /// Skips the rest of a word GRUB's lexer rejects (to the next blank or
    /// special character, or the end of an open quote's file).
    fn bad_word(&mut self, start: usize, line: usize, msg: String) {
        if self.i == start {
            self.i += 1;
        }
        while let Some(c) = self.peek(0) {
            if is_special_char(c) {
                break;
            }
            self.i += 1;
        }
        self.push(TokKind::Bad(msg), line);
    }
}

/// Length of a variable name at the start of `s`: `NAME`, `DIGITS` or one
/// `SPECIAL` character.
fn name_at(s: &[u8]) -> Option<usize> {
    let first = *s.first()?;
    if matches!(first, b'?' | b'#' | b'*' | b'@') {
        return Some(1);
    }
    if first.is_ascii_digit() {
        return Some(s.iter().take_while(|c| c.is_ascii_digit()).count());
    }
    if is_name_start(first) {
        return Some(s.iter().take_while(|c| is_name_char(**c)).count());
    }
    None
}

/// A command of the syntax tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// `word arguments… [{ block }]` (`grubcmd`).
    Simple { words: Vec<Word>, block: Option<Rc<Vec<Cmd>>>, line: usize },
    /// `if … then … [elif … then …]… [else …] fi`.
    If { clauses: Vec<(Vec<Cmd>, Vec<Cmd>)>, otherwise: Option<Vec<Cmd>>, line: usize },
    /// `for NAME in WORDS…; do … done`.
    For { var: String, words: Vec<Word>, body: Vec<Cmd>, line: usize },
    /// `while`/`until … do … done`.
    While { cond: Vec<Cmd>, body: Vec<Cmd>, until: bool, line: usize },
    /// `function NAME { … }`.
    Function { name: String, body: Rc<Vec<Cmd>>, line: usize },
}

impl Cmd {
    pub fn line(&self) -> usize {
        match self {
            Cmd::Simple { line, .. }
            | Cmd::If { line, .. }
            | Cmd::For { line, .. }
            | Cmd::While { line, .. }
            | Cmd::Function { line, .. } => *line,
        }
    }
}

/// A syntax error: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// Parses a whole script. Statements with syntax errors are left out (see
/// the module docs); the errors are returned beside the rest.
pub fn parse(src: &str) -> (Vec<Cmd>, Vec<SyntaxError>) {
    let toks = lex(src);
    let mut p = Parser { toks: &toks, i: 0, depth: 0 };
    let mut cmds = Vec::new();
    let mut errors = Vec::new();
    // Each pass consumes at least one token (the statement or, on an
    // error, the rest of its line).
    loop {
        p.skip_newlines();
        if p.at_eof() {
            break;
        }
        let before = p.i;
        match p.statement().and_then(|c| p.end_of_statement().map(|()| c)) {
            Ok(c) => cmds.push(c),
            Err(e) => {
                errors.push(e.clone());
                p.recover(e.line);
                if p.i == before {
                    p.i += 1;
                }
            }
        }
    }
    (cmds, errors)
}

struct Parser<'t> {
    toks: &'t [Token],
    i: usize,
    depth: usize,
}

type PResult<T> = Result<T, SyntaxError>;

impl Parser<'_> {
    fn tok(&self) -> &Token {
        // `lex` always ends with Eof and the parser never moves past it.
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn at_eof(&self) -> bool {
        matches!(self.tok().kind, TokKind::Eof)
    }

    fn bump(&mut self) {
        if !self.at_eof() {
            self.i += 1;
        }
    }

    fn err<T>(&self, message: impl Into<String>) -> PResult<T> {
        Err(SyntaxError { line: self.tok().line, message: message.into() })
    }

    fn unexpected<T>(&self, wanted: &str) -> PResult<T> {
        let found = match &self.tok().kind {
            TokKind::Word(w) => format!("`{}`", w.raw),
            TokKind::Newline => "end of line".into(),
            TokKind::Semi => "`;`".into(),
            TokKind::LBrace => "`{`".into(),
            TokKind::RBrace => "`}`".into(),
            TokKind::Op(o) => format!("`{o}`"),
            TokKind::Bad(m) => return self.err(format!("syntax error: {m}")),
            TokKind::Eof => "end of file".into(),
        };
        self.err(format!("syntax error: expected {wanted}, found {found}"))
    }

    /// Skips to the token after the end of `line` (GRUB drops the rest of
    /// the chunk it was parsing).
    fn recover(&mut self, line: usize) {
        while !self.at_eof() {
            let t = self.tok();
            let done = matches!(t.kind, TokKind::Newline) && t.line >= line;
            self.bump();
            if done {
                break;
            }
        }
    }

    fn skip_newlines(&mut self) {
        while matches!(self.tok().kind, TokKind::Newline) {
            self.bump();
        }
    }

    fn keyword_here(&self) -> Option<&str> {
        match &self.tok().kind {
            TokKind::Word(w) => w.keyword(),
            _ => None,
        }
    }

    /// `script: script statement delimiter newlines0`; the end of the
    /// file counts as a newline (`grub_script_lexer_yywrap` appends one).
    fn end_of_statement(&mut self) -> PResult<()> {
        match self.tok().kind {
            TokKind::Newline | TokKind::Semi => {
                self.bump();
                Ok(())
            }
            TokKind::Eof => Ok(()),
            _ => self.unexpected("`;` or end of line"),
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return self.err(format!("blocks nested deeper than {MAX_NESTING}"));
        }
        Ok(())
    }

    fn statement(&mut self) -> PResult<Cmd> {
        if self.keyword_here() == Some("function") {
            return self.function();
        }
        self.command()
    }

    fn command(&mut self) -> PResult<Cmd> {
        match self.keyword_here() {
            Some("if") => self.if_cmd(),
            Some("for") => self.for_cmd(),
            Some("while") => self.while_cmd(false),
            Some("until") => self.while_cmd(true),
            Some(k) => {
                let k = k.to_string();
                self.err(format!("syntax error: unexpected `{k}`"))
            }
            None => self.grubcmd(),
        }
    }

    /// `grubcmd: word arguments0 block0`.
    fn grubcmd(&mut self) -> PResult<Cmd> {
        let (first, line) = match &self.tok().kind {
            TokKind::Word(w) => (w.clone(), self.tok().line),
            _ => return self.unexpected("a command"),
        };
        self.bump();
        let mut words = vec![first];
        while let TokKind::Word(w) = &self.tok().kind {
            words.push(w.clone());
            self.bump();
        }
        let block = if matches!(self.tok().kind, TokKind::LBrace) { Some(Rc::new(self.block()?)) } else { None };
        Ok(Cmd::Simple { words, block, line })
    }

    /// `block: "{" commands1 delimiters0 "}"`.
    fn block(&mut self) -> PResult<Vec<Cmd>> {
        self.enter()?;
        self.bump();
        let cmds = self.commands1(&[])?;
        // delimiters0
        if matches!(self.tok().kind, TokKind::Semi) {
            self.bump();
        }
        self.skip_newlines();
        if !matches!(self.tok().kind, TokKind::RBrace) {
            return self.unexpected("`}`");
        }
        self.bump();
        self.depth -= 1;
        Ok(cmds)
    }

    /// `commands1: newlines0 command | commands1 delimiters1 command`,
    /// stopping before one of `stops` (reserved words) or `}`. Leaves the
    /// last delimiters for the caller when a stop word follows them.
    fn commands1(&mut self, stops: &[&str]) -> PResult<Vec<Cmd>> {
        self.skip_newlines();
        let mut cmds = vec![self.command()?];
        loop {
            // delimiters1: `;` or `\n`, then any newlines.
            let save = self.i;
            match self.tok().kind {
                TokKind::Semi | TokKind::Newline => self.bump(),
                _ => return Ok(cmds),
            }
            self.skip_newlines();
            let stop = match self.keyword_here() {
                Some(k) => stops.contains(&k),
                None => matches!(self.tok().kind, TokKind::RBrace | TokKind::Eof),
            };
            if stop || matches!(self.tok().kind, TokKind::RBrace | TokKind::Eof) {
                // Let the caller see that delimiters were present.
                self.i = save;
                return Ok(cmds);
            }
            cmds.push(self.command()?);
        }
    }

    /// `delimiters1` before a reserved word.
    fn delimiters1(&mut self) -> PResult<()> {
        match self.tok().kind {
            TokKind::Semi | TokKind::Newline => self.bump(),
            _ => return self.unexpected("`;` or end of line"),
        }
        self.skip_newlines();
        Ok(())
    }

    fn expect_keyword(&mut self, k: &str) -> PResult<()> {
        if self.keyword_here() == Some(k) {
            self.bump();
            Ok(())
        } else {
            self.unexpected(&format!("`{k}`"))
        }
    }

    /// `ifcmd: "if" ifclause "fi"`.
    fn if_cmd(&mut self) -> PResult<Cmd> {
        let line = self.tok().line;
        self.enter()?;
        self.bump();
        let mut clauses = Vec::new();
        let mut otherwise = None;
        // One pass per `if`/`elif` clause; each consumes tokens.
        loop {
            let cond = self.commands1(&["then"])?;
            self.delimiters1()?;
            self.expect_keyword("then")?;
            let body = self.commands1(&["elif", "else", "fi"])?;
            self.delimiters1()?;
            clauses.push((cond, body));
            match self.keyword_here() {
                Some("elif") => {
                    self.bump();
                    continue;
                }
                Some("else") => {
                    self.bump();
                    let body = self.commands1(&["fi"])?;
                    self.delimiters1()?;
                    otherwise = Some(body);
                    self.expect_keyword("fi")?;
                }
                _ => self.expect_keyword("fi")?,
            }
            break;
        }
        self.depth -= 1;
        Ok(Cmd::If { clauses, otherwise, line })
    }

    /// `forcmd: "for" "name" "in" arguments0 delimiters1 "do" commands1
    /// delimiters1 "done"`.
    fn for_cmd(&mut self) -> PResult<Cmd> {
        let line = self.tok().line;
        self.enter()?;
        self.bump();
        let var = match &self.tok().kind {
            TokKind::Word(w) if w.keyword().is_none() && is_name(&w.raw) => w.raw.clone(),
            _ => return self.unexpected("a variable name"),
        };
        self.bump();
        self.expect_keyword("in")?;
        let mut words = Vec::new();
        while let TokKind::Word(w) = &self.tok().kind {
            words.push(w.clone());
            self.bump();
        }
        let body = self.do_done()?;
        self.depth -= 1;
        Ok(Cmd::For { var, words, body, line })
    }

    /// The loop body shared by `for`, `while` and `until`: `delimiters1 "do"
    /// commands1 delimiters1 "done"`.
    fn do_done(&mut self) -> PResult<Vec<Cmd>> {
        self.delimiters1()?;
        self.expect_keyword("do")?;
        let body = self.commands1(&["done"])?;
        self.delimiters1()?;
        self.expect_keyword("done")?;
        Ok(body)
    }

    fn while_cmd(&mut self, until: bool) -> PResult<Cmd> {
        let line = self.tok().line;
        self.enter()?;
        self.bump();
        let cond = self.commands1(&["do"])?;
        let body = self.do_done()?;
        self.depth -= 1;
        Ok(Cmd::While { cond, body, until, line })
    }

    /// `function: "function" "name" newlines0 "{" commands1 delimiters1 "}"`.
    fn function(&mut self) -> PResult<Cmd> {
        let line = self.tok().line;
        self.enter()?;
        self.bump();
        let name = match &self.tok().kind {
            TokKind::Word(w) if w.keyword().is_none() && is_name(&w.raw) => w.raw.clone(),
            _ => return self.unexpected("a function name"),
        };
        self.bump();
        self.skip_newlines();
        if !matches!(self.tok().kind, TokKind::LBrace) {
            return self.unexpected("`{`");
        }
        self.bump();
        let body = self.commands1(&[])?;
        self.delimiters1()?;
        if !matches!(self.tok().kind, TokKind::RBrace) {
            return self.unexpected("`}`");
        }
        self.bump();
        self.depth -= 1;
        Ok(Cmd::Function { name, body: Rc::new(body), line })
    }
}

/// `NAME` in `yylex.l`: `[[:alpha:]_][[:alnum:]_]*`.
pub fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && is_name_start(b[0]) && b.iter().all(|c| is_name_char(*c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(src: &str) -> Vec<String> {
        lex(src)
            .into_iter()
            .map(|t| match t.kind {
                TokKind::Word(w) => format!("W{:?}", w.parts),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn lexes_like_yylex() {
        let t = words("set a='x y'\"$b\"c\\ d #c\nmenuentry x{ } # z");
        assert_eq!(t[0], "W[Lit(\"set\")]");
        assert_eq!(
            t[1],
            "W[Lit(\"a=\"), Quoted(\"x y\"), Quoted(\"\"), Var { name: \"b\", quoted: true }, Quoted(\"\"), Lit(\"c d\")]"
        );
        assert_eq!(t[2], "Newline");
        assert_eq!(t[4], "W[Lit(\"x\")]");
        assert_eq!(t[5], "LBrace");
        assert_eq!(t[6], "RBrace");
        assert_eq!(t[7], "Eof");
        assert!(words("a#b").len() == 2, "`#` inside a word is not a comment");
        assert!(matches!(lex("echo $(x)")[1].kind, TokKind::Bad(_)));
        assert!(matches!(lex("echo 'open")[1].kind, TokKind::Bad(_)));
        assert_eq!(words("a\\\nb")[0], "W[Lit(\"ab\")]");
        assert_eq!(words("\\x41\\q")[0], "W[Lit(\"\\\\x41q\")]");
    }

    #[test]
    fn parses_blocks_ifs_and_functions() {
        let src = "function f {\n  echo 1\n}\nif [ a ]; then\n set x=1\nelif true; then b\nelse\n c\nfi\nmenuentry 'T' --id t {\n linux /k\n}\n";
        let (cmds, errs) = parse(src);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(cmds.len(), 3);
        assert!(matches!(&cmds[1], Cmd::If { clauses, otherwise: Some(_), .. } if clauses.len() == 2));
        assert!(matches!(&cmds[2], Cmd::Simple { block: Some(b), line: 10, .. } if b.len() == 1));
    }

    #[test]
    fn errors_drop_the_statement_and_resume_on_the_next_line() {
        let (cmds, errs) = parse("menuentry x { }\nset a=1\nfi\nset b=2 | c\nset c=3\n");
        assert_eq!(errs.iter().map(|e| e.line).collect::<Vec<_>>(), vec![1, 3, 4]);
        assert_eq!(cmds.len(), 2);
    }
}
