// How the tab writes numbers: short enough for an axis tick or a table cell.

/** A number short enough for an axis or a table: 3 significant digits, exponent when tiny/huge. */
export function fmt(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (magnitude >= 1e5 || magnitude < 1e-3) {
    const [mantissa, exponent] = value.toExponential(digits - 1).split("e");
    return `${String(Number(mantissa))}e${Number(exponent)}`;
  }
  return String(Number(value.toPrecision(digits)));
}

/** `fmt` with a true minus sign (U+2212): "−0.002" on an axis, not a hyphen. */
export function fmtSigned(value, digits = 3) {
  return fmt(value, digits).replace(/^-/, "\u2212");
}
