if vim.g.loaded_dgemma or vim.fn.has('nvim-0.11') == 0 then
  return
end
vim.g.loaded_dgemma = true

vim.api.nvim_create_user_command('DgemmaFill', function() require('dgemma').fill_function() end, {
  desc = 'dgemma: fill the function under the cursor',
})
vim.api.nvim_create_user_command('DgemmaToggle', function() require('dgemma').toggle() end, {
  desc = 'dgemma: turn automatic inline completions on or off',
})

-- Zero configuration: set up with the defaults (or `vim.g.dgemma`) once start-up is done, unless the user's
-- config called `require('dgemma').setup()` already (or set `vim.g.dgemma_no_auto_setup`).
local function auto_setup()
  local dgemma = require('dgemma')
  if not dgemma.did_setup and vim.g.dgemma_no_auto_setup ~= true then
    dgemma.setup()
  end
end
if vim.v.vim_did_enter == 1 then -- loaded late, e.g. by a plugin manager on an event
  vim.schedule(auto_setup)
else
  vim.api.nvim_create_autocmd('VimEnter', { once = true, callback = auto_setup })
end
