/**
 * One item of every type the OpenAI Agents SDK (0.20) puts in a session, with the content parts and optional
 * fields each can carry, binary data (`Uint8Array`) included. Each is a valid item for the SDK's own schema
 * (the tests check it with `protocol.ModelItem`), so that these are the SDK's shapes, not guesses.
 */
import type { AgentInputItem } from '@openai/agents-core';

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 255]);
const PDF = new Uint8Array([0x25, 0x50, 0x44, 0x46, 0x2d]);

export const EVERY_ITEM: AgentInputItem[] = [
  { role: 'system', content: 'You are terse.' },
  {
    type: 'message',
    role: 'user',
    content: [
      { type: 'input_text', text: 'What is in these? ✓ 日本' },
      { type: 'input_image', image: 'https://example.com/cat.png', detail: 'high' },
      { type: 'input_image', image: { id: 'file_img_1' } },
      { type: 'input_file', file: { url: 'https://example.com/report.pdf' }, filename: 'report.pdf' },
      { type: 'input_file', file: 'data:application/pdf;base64,JVBERi0=', filename: 'inline.pdf', promptCacheBreakpoint: { mode: 'explicit' } },
      { type: 'audio', audio: 'UklGRg==', format: 'wav', transcript: null },
    ],
    providerData: { source: 'upload' },
  },
  {
    type: 'message',
    id: 'msg_a',
    role: 'assistant',
    status: 'completed',
    content: [
      { type: 'output_text', text: 'A cat, and a report.', providerData: { annotations: [] } },
      { type: 'refusal', refusal: 'I cannot open the audio.' },
    ],
  },
  {
    type: 'reasoning',
    id: 'rs_a',
    content: [{ type: 'input_text', text: 'Summarise first.' }],
    rawContent: [{ type: 'reasoning_text', text: 'raw thinking' }],
    providerData: { encrypted_content: 'gAAAA-opaque', summary: [] },
  },
  { type: 'function_call', id: 'fc_a', callId: 'call_a', name: 'lookup', namespace: 'docs', arguments: '{"q":"cat","n":2}', status: 'completed' },
  { type: 'function_call_result', callId: 'call_a', name: 'lookup', status: 'completed', output: 'plain text output' },
  {
    type: 'function_call_result',
    callId: 'call_b',
    name: 'render',
    status: 'completed',
    output: [
      { type: 'input_text', text: 'rendered:' },
      { type: 'input_image', image: 'data:image/png;base64,iVBORw0KGgo=' },
    ],
  },
  {
    type: 'function_call_result',
    callId: 'call_c',
    name: 'snapshot',
    status: 'completed',
    output: { type: 'image', image: { data: PNG, mediaType: 'image/png' }, detail: 'low' },
  },
  {
    type: 'function_call_result',
    callId: 'call_d',
    name: 'export',
    status: 'incomplete',
    output: { type: 'file', file: { data: PDF, mediaType: 'application/pdf', filename: 'out.pdf' } },
  },
  {
    type: 'hosted_tool_call',
    id: 'ws_a',
    name: 'web_search_call',
    status: 'completed',
    providerData: { type: 'web_search_call', action: { type: 'search', query: 'cats', sources: [{ url: 'https://example.com' }] } },
  },
  {
    type: 'hosted_tool_call',
    id: 'ci_a',
    name: 'code_interpreter_call',
    arguments: 'print(1)',
    output: '1',
    status: 'completed',
    providerData: { container_id: 'cntr_1' },
  },
  { type: 'computer_call', id: 'cu_a', callId: 'call_e', status: 'completed', action: { type: 'click', x: 10, y: 20.5, button: 'left' } },
  { type: 'computer_call_result', callId: 'call_e', output: { type: 'computer_screenshot', data: 'data:image/png;base64,iVBORw0KGgo=' } },
  { type: 'shell_call', callId: 'call_f', status: 'completed', action: { commands: ['ls -la', 'pwd'], timeoutMs: 5000 } },
  {
    type: 'shell_call_output',
    callId: 'call_f',
    output: [
      { stdout: 'a\nb\n', stderr: '', outcome: { type: 'exit', exitCode: 0 } },
      { stdout: '', stderr: 'slow', outcome: { type: 'timeout' } },
    ],
    maxOutputLength: 4096,
  },
  {
    type: 'apply_patch_call',
    callId: 'call_g',
    status: 'completed',
    operation: { type: 'update_file', path: 'src/a.ts', diff: '@@ -1 +1 @@\n-a\n+b\n', moveTo: 'src/b.ts' },
  },
  { type: 'apply_patch_call_output', callId: 'call_g', status: 'failed', output: 'patch did not apply' },
  { type: 'tool_search_call', id: 'ts_a', callId: 'call_h', execution: 'client', arguments: { query: 'calendar' }, status: 'completed' },
  { type: 'tool_search_output', callId: 'call_h', execution: 'client', tools: [{ type: 'function', name: 'add_event', parameters: { type: 'object' } }] },
  { type: 'program', id: 'pg_a', callId: 'call_i', code: 'return 1 + 1', fingerprint: 'sha256:ab' },
  { type: 'program_output', callId: 'call_i', output: '2', status: 'completed' },
  { type: 'compaction', id: 'cmp_a', encrypted_content: 'gAAAA-compacted', created_by: 'server' },
  { type: 'unknown', id: 'x_a', providerData: { type: 'future_item', nested: { list: [1, 'two', null, true, -1.5e-7] } } },
];
