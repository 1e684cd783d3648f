/** The syntax tree parseExpr returns. Durations and offsets are in milliseconds. */
import type { Matcher } from './types.js'

export type ValueType = 'scalar' | 'vector' | 'matrix' | 'string'

export const AGGREGATIONS = ['sum', 'avg', 'min', 'max', 'count', 'topk', 'bottomk', 'quantile'] as const
export type AggregationOp = typeof AGGREGATIONS[number]

export type ArithmeticOp = '+' | '-' | '*' | '/' | '%' | '^'
export type ComparisonOp = '==' | '!=' | '>' | '<' | '>=' | '<='
export type BinaryOp = ArithmeticOp | ComparisonOp

export interface NumberLiteral { kind: 'number', value: number }
export interface StringLiteral { kind: 'string', value: string }
export interface VectorSelector { kind: 'vector', name: string | undefined, matchers: Matcher[], offsetMs: number }
export interface MatrixSelector { kind: 'matrix', vector: VectorSelector, rangeMs: number }
export interface SubqueryExpr { kind: 'subquery', expr: Expr, rangeMs: number, /** 0: the default step */ stepMs: number, offsetMs: number }
export interface Call { kind: 'call', func: string, args: Expr[] }
export interface Aggregate { kind: 'aggregate', op: AggregationOp, expr: Expr, param: Expr | undefined, grouping: string[], without: boolean }
export interface VectorMatching { on: boolean, labels: string[] }
export interface Binary { kind: 'binary', op: BinaryOp, lhs: Expr, rhs: Expr, returnBool: boolean, matching: VectorMatching | undefined }
export interface Unary { kind: 'unary', op: '-' | '+', expr: Expr }
export interface Paren { kind: 'paren', expr: Expr }

export type Expr = NumberLiteral | StringLiteral | VectorSelector | MatrixSelector | SubqueryExpr | Call | Aggregate | Binary | Unary | Paren

export const isComparison = (op: BinaryOp): op is ComparisonOp =>
  op === '==' || op === '!=' || op === '>' || op === '<' || op === '>=' || op === '<='

export interface FunctionSpec { args: ValueType[], optional: number, returns: ValueType }

/** The supported functions: argument types (the last `optional` ones may be omitted). */
export const FUNCTIONS: Record<string, FunctionSpec> = {
  rate: { args: ['matrix'], optional: 0, returns: 'vector' },
  irate: { args: ['matrix'], optional: 0, returns: 'vector' },
  increase: { args: ['matrix'], optional: 0, returns: 'vector' },
  delta: { args: ['matrix'], optional: 0, returns: 'vector' },
  avg_over_time: { args: ['matrix'], optional: 0, returns: 'vector' },
  min_over_time: { args: ['matrix'], optional: 0, returns: 'vector' },
  max_over_time: { args: ['matrix'], optional: 0, returns: 'vector' },
  sum_over_time: { args: ['matrix'], optional: 0, returns: 'vector' },
  count_over_time: { args: ['matrix'], optional: 0, returns: 'vector' },
  last_over_time: { args: ['matrix'], optional: 0, returns: 'vector' },
  quantile_over_time: { args: ['scalar', 'matrix'], optional: 0, returns: 'vector' },
  abs: { args: ['vector'], optional: 0, returns: 'vector' },
  ceil: { args: ['vector'], optional: 0, returns: 'vector' },
  floor: { args: ['vector'], optional: 0, returns: 'vector' },
  round: { args: ['vector', 'scalar'], optional: 1, returns: 'vector' },
  clamp_min: { args: ['vector', 'scalar'], optional: 0, returns: 'vector' },
  clamp_max: { args: ['vector', 'scalar'], optional: 0, returns: 'vector' },
}

export function typeOf (e: Expr): ValueType {
  switch (e.kind) {
    case 'number': return 'scalar'
    case 'string': return 'string'
    case 'vector': return 'vector'
    case 'matrix': return 'matrix'
    case 'subquery': return 'matrix'
    case 'call': return FUNCTIONS[e.func]!.returns
    case 'aggregate': return 'vector'
    case 'binary': return typeOf(e.lhs) === 'scalar' && typeOf(e.rhs) === 'scalar' ? 'scalar' : 'vector'
    case 'unary': return typeOf(e.expr)
    case 'paren': return typeOf(e.expr)
  }
}

export const TYPE_NAMES: Record<ValueType, string> = { scalar: 'scalar', vector: 'instant vector', matrix: 'range vector', string: 'string' }
