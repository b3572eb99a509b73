-- Minimal init for the headless tests: this plugin alone on the runtimepath, no swap files, no auto-setup
-- (each test calls `require('dgemma').setup()` with the server command it wants).
local root = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h:h')
vim.opt.runtimepath:prepend(root)
vim.o.swapfile = false
vim.o.shadafile = 'NONE'
vim.g.dgemma_no_auto_setup = true
