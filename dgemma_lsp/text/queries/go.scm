; Textobject captures for Go (names follow nvim-treesitter-textobjects).
; Captures starting with "_" are helpers for predicates and for syntax.py; they are not textobjects.

; ---- functions --------------------------------------------------------------------------------------------------

(function_declaration
  name: (identifier) @function.name
  body: (block) @function.inner) @function.outer

(method_declaration
  name: (field_identifier) @function.name
  body: (block) @function.inner) @function.outer

(func_literal
  body: (block) @function.inner) @function.outer

; ---- blocks and statements --------------------------------------------------------------------------------------

[
  (block)
  (field_declaration_list)
  (interface_type)
] @block.inner

(block "{" @block.open)
(field_declaration_list "{" @block.open)
(interface_type "{" @block.open)
(literal_value "{" @block.open)
(expression_switch_statement "{" @block.open)
(type_switch_statement "{" @block.open)
(select_statement "{" @block.open)
; `func f() {` with nothing after it yet parses as an ERROR holding the brace.
(ERROR "{" @block.open)

(statement_list (_) @statement.outer)
(source_file (_) @statement.outer)

(comment) @comment.outer

[
  (interpreted_string_literal)
  (raw_string_literal)
  (rune_literal)
] @string.outer

; ---- stubs: a statement that stands for a missing function body ---------------------------------------------------
; The parent is left open (`_`): function_sites keeps only the bodies of @function.outer nodes, and checks there that
; the stub is the body's only content apart from comments, which the anchor operator cannot skip.

(_
  body: (block
    (statement_list
      (expression_statement
        (call_expression
          function: (identifier) @_panic
          arguments: (argument_list
            . [(interpreted_string_literal) (raw_string_literal)] @_message .))) @stub.inner)) @_body
  (#eq? @_panic "panic")
  (#match? @_message "(?i)todo|not implemented"))

(_
  body: (block (comment) @stub.inner) @_body
  (#match? @stub.inner "TODO|FIXME"))

; An empty body `{}` is itself the stub.
(_
  body: (block) @_body @stub.inner
  (#match? @_body "^[{][ \t\r\n]*[}]$"))
