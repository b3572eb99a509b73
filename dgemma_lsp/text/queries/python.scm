; Textobject captures for Python (names follow nvim-treesitter-textobjects).
; Captures starting with "_" are helpers for predicates and for syntax.py; they are not textobjects.

; ---- functions --------------------------------------------------------------------------------------------------

(function_definition
  name: (identifier) @function.name
  body: (block) @function.inner) @function.outer

(lambda
  body: (_) @function.inner) @function.outer

; ---- blocks and statements --------------------------------------------------------------------------------------

; Every Python block is the body of something: a def, class, if/elif/else, for, while, with, try/except/finally, case.
(block) @block.inner

; The ":" that opens a block, a comment after it or not; tree-sitter-python gives a def still being typed an empty
; block right after it.
(_ ":" @block.open . (comment)* . (block))

[
  (expression_statement)
  (return_statement)
  (pass_statement)
  (raise_statement)
  (assert_statement)
  (delete_statement)
  (import_statement)
  (import_from_statement)
  (future_import_statement)
  (global_statement)
  (nonlocal_statement)
  (break_statement)
  (continue_statement)
  (print_statement)
  (exec_statement)
  (type_alias_statement)
  (if_statement)
  (for_statement)
  (while_statement)
  (with_statement)
  (try_statement)
  (match_statement)
  (function_definition)
  (class_definition)
  (decorated_definition)
] @statement.outer

(comment) @comment.outer

[
  (string)
  (concatenated_string)
] @string.outer

; ---- stubs: a statement that stands for a missing function body ---------------------------------------------------
; These match a stub-shaped statement anywhere in a function body. That it is the body's only content (give or take
; comments and a leading docstring) is checked in syntax.py: comments are named nodes that may sit between any two
; statements, and the anchor operator cannot skip them.

(function_definition
  body: (block (pass_statement) @stub.inner) @_body)

(function_definition
  body: (block (expression_statement (ellipsis)) @stub.inner) @_body)

(function_definition
  body: (block
    (raise_statement (identifier) @_exception) @stub.inner) @_body
  (#eq? @_exception "NotImplementedError"))

(function_definition
  body: (block
    (raise_statement (call function: (identifier) @_exception)) @stub.inner) @_body
  (#eq? @_exception "NotImplementedError"))

; `def f():` followed by only a comment is not valid Python; tree-sitter gives the def an empty block and leaves the
; comment as the def's next sibling. The function is captured too, so that a match around the comment alone (a
; cursor on it) brings the function with it.
((function_definition
   name: (identifier) @function.name
   body: (block) @_body @function.inner) @function.outer
  .
  (comment) @stub.inner
  (#match? @stub.inner "TODO|FIXME"))

; ---- outline: what a file defines and imports, for the prompt's context (outline.py) ------------------------------

[
  (import_statement)
  (import_from_statement)
  (future_import_statement)
] @outline.import

(function_definition
  body: (block) @outline.body) @outline.definition

(class_definition
  body: (block) @outline.body) @outline.definition

; ---- calls ---------------------------------------------------------------------------------------------------------

(call
  arguments: (argument_list) @call.arguments)
