// A thin client for dgemma-lsp: start the server, pass it the `dgemma.*` settings, and let vscode-languageclient
// wire the standard features (inline completions, code actions, commands). Everything else here is status and
// convenience: a status bar item, four commands, and the per-language / manual-trigger gate on inline requests.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  ClientCapabilities,
  CloseAction,
  Code2ProtocolConverter,
  DidChangeConfigurationNotification,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  StaticFeature,
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
} from 'vscode-languageclient/node';

const SECTION = 'dgemma';
// `dgemma.*` groups that configure the editor side; every other key declared in package.json goes to the server.
const CLIENT_GROUPS = new Set(['server', 'inlineCompletions']);
// Commands the server registers (dgemma_lsp/lsp/session.py); ours only gather the arguments.
const SERVER_FILL_FUNCTION = 'dgemma.fillFunction';
const SERVER_FILL_SELECTION = 'dgemma.fillSelection';
const RESTART_DEBOUNCE_MS = 1000;

type Status = 'starting' | 'loading' | 'ready' | 'filling' | 'error';

let client: LanguageClient | undefined;
let statusItem: vscode.StatusBarItem;
let output: vscode.LogOutputChannel;
let serverKeys: string[] = [];
let lastStatus: { status: Status; detail: string } = { status: 'starting', detail: '' };
let starting = false; // inside `client.start()`

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel('dgemma-lsp', { log: true });
  statusItem = vscode.window.createStatusBarItem('dgemma.status', vscode.StatusBarAlignment.Right, 100);
  statusItem.name = 'dgemma-lsp';
  statusItem.command = 'dgemma.showOutput';
  statusItem.show();
  serverKeys = serverSettingKeys(context.extension.packageJSON);

  context.subscriptions.push(
    output,
    statusItem,
    vscode.commands.registerCommand('dgemma.showOutput', () => output.show()),
    vscode.commands.registerCommand('dgemma.fillThisFunction', fillThisFunction),
    vscode.commands.registerCommand('dgemma.fillThisSelection', fillThisSelection),
    vscode.commands.registerCommand('dgemma.restartServer', restartServer),
    vscode.commands.registerCommand('dgemma.toggleInlineCompletions', toggleInlineCompletions),
    vscode.workspace.onDidChangeConfiguration(onConfigurationChanged),
  );
  await startServer();
}

export function deactivate(): Thenable<void> | undefined {
  return client?.stop();
}

// --- server lifecycle -------------------------------------------------------------------------------------------

async function startServer(): Promise<void> {
  const server = serverCommand(vscode.workspace.getConfiguration(SECTION));
  if (typeof server === 'string') {
    setStatus('error', server);
    const choice = await vscode.window.showErrorMessage(server, 'Open Settings');
    if (choice) {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'dgemma.server');
    }
    return;
  }
  const options: LanguageClientOptions = {
    documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
    initializationOptions: serverSettings(),
    outputChannel: output,
    middleware: {
      provideInlineCompletionItems: (document, position, context, token, next) =>
        inlineAllowed(document, context) ? next(document, position, context, token) : undefined,
    },
    errorHandler: {
      error: () => ({ action: ErrorAction.Continue }),
      // Restarting a server that dies at once only repeats the failure: say so once (during start-up, the catch
      // below does) and offer a restart.
      closed: () => {
        if (!starting) {
          reportFailure('the server stopped');
        }
        return { action: CloseAction.DoNotRestart, handled: true };
      },
    },
    initializationFailedHandler: () => false,
  };
  client = new QuietStartClient('dgemma', 'dgemma-lsp', server, options);
  client.registerFeature(new StatusFromProgress(client));
  setStatus('starting', 'starting the server');
  starting = true;
  try {
    await client.start();
  } catch (error) {
    output.error(`dgemma-lsp did not start: ${error}`);
    reportFailure('the server did not start');
  } finally {
    starting = false;
  }
}

/** A client whose start-up failures reach the user once, from `startServer`, not as the library's extra pop-ups. */
class QuietStartClient extends LanguageClient {
  override error(message: string, data?: unknown, showNotification: boolean | 'force' = true): void {
    super.error(message, data, starting ? false : showNotification);
  }
}

function reportFailure(what: string): void {
  setStatus('error', what);
  void vscode.window
    .showErrorMessage(`dgemma-lsp: ${what}. Its log is in Output › dgemma-lsp.`, 'Restart', 'Show Log')
    .then((choice) => (choice === 'Restart' ? restartServer() : choice ? output.show() : undefined));
}

async function restartServer(): Promise<void> {
  const running = client;
  client = undefined;
  if (running) {
    await running.stop().catch((error) => output.warn(`stopping the server: ${error}`));
  }
  await startServer();
}

/** How to start the server, or one message saying why it cannot be started. */
function serverCommand(config: vscode.WorkspaceConfiguration): ServerOptions | string {
  const python = config.get<string>('server.pythonPath', '').trim();
  const extra = config.get<string[]>('server.args', []);
  if (python) {
    return onPath(python)
      ? { command: python, args: ['-m', 'dgemma_lsp', 'serve', ...extra] }
      : `dgemma-lsp: the Python interpreter "${python}" (dgemma.server.pythonPath) was not found.`;
  }
  const command = config.get<string>('server.command', 'dgemma-lsp').trim() || 'dgemma-lsp';
  return onPath(command)
    ? { command, args: ['serve', ...extra] }
    : `dgemma-lsp: the server command "${command}" was not found on PATH. Install it (pip install dgemma-lsp) ` +
        'or set dgemma.server.command or dgemma.server.pythonPath.';
}

function onPath(command: string): boolean {
  if (command.includes('/') || command.includes('\\')) {
    return fs.existsSync(command);
  }
  const extensions = process.platform === 'win32' ? (process.env.PATHEXT ?? '.EXE').split(';') : [''];
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .some((dir) => dir && extensions.some((ext) => fs.existsSync(path.join(dir, command + ext))));
}

// --- settings ---------------------------------------------------------------------------------------------------

/** The first segment of every declared `dgemma.*` key that belongs to the server: declared once, in package.json. */
function serverSettingKeys(packageJSON: any): string[] {
  const declared = Object.keys(packageJSON?.contributes?.configuration?.properties ?? {});
  const groups = declared.map((key) => key.slice(SECTION.length + 1).split('.')[0]);
  return [...new Set(groups)].filter((group) => !CLIENT_GROUPS.has(group));
}

/** The server's settings tree (camelCase keys of dgemma_lsp/settings.py), defaults included. */
function serverSettings(): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration(SECTION);
  return Object.fromEntries(serverKeys.map((key) => [key, config.get(key)]));
}

let pendingRestart: NodeJS.Timeout | undefined;

async function onConfigurationChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
  if (event.affectsConfiguration(`${SECTION}.server`)) {
    // The Settings editor saves as you type: restart once the command has stopped changing.
    clearTimeout(pendingRestart);
    pendingRestart = setTimeout(() => void restartServer(), RESTART_DEBOUNCE_MS);
  } else if (serverKeys.some((key) => event.affectsConfiguration(`${SECTION}.${key}`)) && client?.isRunning()) {
    await client.sendNotification(DidChangeConfigurationNotification.type, { settings: { dgemma: serverSettings() } });
  }
  if (event.affectsConfiguration(`${SECTION}.inlineCompletions`)) {
    setStatus(lastStatus.status, lastStatus.detail);
  }
}

function inlineAllowed(document: vscode.TextDocument, context: vscode.InlineCompletionContext): boolean {
  const config = vscode.workspace.getConfiguration(SECTION, document);
  if (!config.get<boolean>('inlineCompletions.enable', true)) {
    return false;
  }
  const manualOnly = config.get<string>('inlineCompletions.trigger') === 'manual';
  return !manualOnly || context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke;
}

async function toggleInlineCompletions(): Promise<void> {
  const config = vscode.workspace.getConfiguration(SECTION);
  const enabled = config.get<boolean>('inlineCompletions.enable', true);
  await config.update('inlineCompletions.enable', !enabled, vscode.ConfigurationTarget.Global);
  vscode.window.setStatusBarMessage(`dgemma: inline completions ${enabled ? 'off' : 'on'}`, 3000);
}

// --- fill commands ----------------------------------------------------------------------------------------------

async function fillThisFunction(): Promise<void> {
  await runServerFill(SERVER_FILL_FUNCTION, 'filling this function', (editor, c2p) =>
    c2p.asPosition(editor.selection.active),
  );
}

async function fillThisSelection(): Promise<void> {
  if (vscode.window.activeTextEditor?.selection.isEmpty) {
    void vscode.window.showInformationMessage('dgemma: select the code to fill first.');
    return;
  }
  await runServerFill(SERVER_FILL_SELECTION, 'filling the selection', (editor, c2p) => c2p.asRange(editor.selection));
}

type FillArgument = (editor: vscode.TextEditor, c2p: Code2ProtocolConverter) => unknown;

/** Run one of the server's fill commands; the server applies the edit itself with `workspace/applyEdit` and
 * reports "nothing to fill here" or an empty fill with `window/showMessage`. */
async function runServerFill(command: string, what: string, where: FillArgument): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    return;
  }
  const running = client;
  if (!running?.isRunning()) {
    void vscode.window.showWarningMessage('dgemma-lsp is not running; see the status bar.');
    return;
  }
  const before = lastStatus;
  setStatus('filling', what);
  try {
    const c2p = running.code2ProtocolConverter;
    const args = [c2p.asUri(editor.document.uri), where(editor, c2p)];
    await running.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
  } catch (error) {
    output.error(`${what}: ${error}`);
  } finally {
    if (lastStatus.status === 'filling') {
      setStatus(before.status, before.detail);
    }
  }
}

// --- status bar -------------------------------------------------------------------------------------------------

/** Shows the server's work-done progress (model loading) in the status bar item instead of a notification. */
class StatusFromProgress implements StaticFeature {
  constructor(private readonly languageClient: LanguageClient) {}

  fillClientCapabilities(capabilities: ClientCapabilities): void {
    (capabilities.window ??= {}).workDoneProgress = true;
  }

  initialize(): void {
    // Features initialise in registration order, so this replaces the built-in progress feature's handler.
    this.languageClient.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
      const listener = this.languageClient.onProgress(WorkDoneProgress.type, token, (value) => {
        if (value.kind === 'end') {
          listener.dispose();
          // dgemma_lsp/lsp/features/lifecycle.py ends the load with "model ready" or "model failed to load".
          const failed = value.message?.includes('failed') ?? false;
          setStatus(failed ? 'error' : 'ready', value.message ?? 'model ready');
        } else {
          const percent = value.percentage === undefined ? '' : ` ${value.percentage}%`;
          setStatus('loading', `${value.message ?? 'loading the model'}${percent}`);
        }
      });
    });
  }

  getState() {
    return { kind: 'static' } as const;
  }

  clear(): void {}
}

function setStatus(status: Status, detail: string): void {
  lastStatus = { status, detail };
  const inlineOn = vscode.workspace.getConfiguration(SECTION).get<boolean>('inlineCompletions.enable', true);
  const icon = {
    starting: '$(loading~spin)',
    loading: '$(loading~spin)',
    filling: '$(loading~spin)',
    ready: inlineOn ? '$(sparkle)' : '$(circle-slash)',
    error: '$(error)',
  }[status];
  const label = status === 'ready' && !inlineOn ? 'ready, inline completions off' : status;
  statusItem.text = `${icon} dgemma`;
  statusItem.tooltip = `dgemma-lsp: ${label}: ${detail}\nClick for the log.`;
  statusItem.accessibilityInformation = { label: `dgemma-lsp ${label}` };
  statusItem.backgroundColor = status === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
}
