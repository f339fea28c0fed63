/// Columns padded to their widest cell: text aligned left, the `rightAligned` columns (figures) right.
struct TextTable {
    let header: [String]
    let rightAligned: Set<Int>
    var rows: [[String]] = []

    func render(indent: String = "  ") -> [String] {
        let all = [header] + rows
        let widths = header.indices.map { column in
            all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0
        }
        return all.map { row in
            var line = indent
            for (column, cell) in row.enumerated() {
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                if column > 0 { line += "  " }
                if rightAligned.contains(column) {
                    line += padding + cell
                } else {
                    line += column == row.count - 1 ? cell : cell + padding
                }
            }
            return line
        }
    }
}
