using System.Text;

namespace DistTrain.Data.Csv;

/// <summary>
/// RFC 4180 records from a <see cref="TextReader"/>: comma-separated, fields optionally in double quotes
/// (which may hold commas, doubled quotes and line breaks), lines ending in LF, CRLF or CR, a leading
/// byte-order mark skipped, blank lines skipped. Tracks physical line numbers for error messages.
/// </summary>
internal sealed class CsvTokenizer
{
    private readonly TextReader _reader;
    private readonly string _source;
    private readonly StringBuilder _field = new();
    private int _line = 1;
    private bool _atStart = true;

    public CsvTokenizer(TextReader reader, string source)
    {
        _reader = reader;
        _source = source;
    }

    /// <summary>Physical line (1-based) on which the last record returned by <see cref="ReadRecord"/> starts.</summary>
    public int RecordLine { get; private set; }

    /// <summary>Line the next record would start on (after the last one read).</summary>
    public int NextLine => _line;

    /// <summary>Reads the next non-blank record into <paramref name="fields"/>; false at end of input.</summary>
    public bool ReadRecord(List<string> fields)
    {
        fields.Clear();
        int c;
        while (true)
        {
            c = _reader.Read();
            if (_atStart)
            {
                _atStart = false;
                if (c == '\uFEFF') c = _reader.Read();
            }
            if (c == -1) return false;
            if (c == '\r' || c == '\n')
            {
                EndLine(c);
                continue;
            }
            break;
        }

        RecordLine = _line;
        while (true)
        {
            _field.Clear();
            if (c == '"')
            {
                var quoteLine = _line;
                while (true)
                {
                    c = _reader.Read();
                    if (c == -1)
                        throw new DataFormatException(_source, $"line {quoteLine}, field {fields.Count + 1}",
                            "a closing double quote", "the end of the file",
                            "Close the quoted field, or double the quote (\"\") if it is part of the value.");
                    if (c == '"')
                    {
                        if (_reader.Peek() == '"')
                        {
                            _reader.Read();
                            _field.Append('"');
                            continue;
                        }
                        break;
                    }
                    if (c == '\r' || c == '\n')
                    {
                        EndLine(c);
                        _field.Append('\n');
                        continue;
                    }
                    _field.Append((char)c);
                }
                c = _reader.Read();
                while (c == ' ' || c == '\t') c = _reader.Read();
                if (c != ',' && c != '\r' && c != '\n' && c != -1)
                    throw new DataFormatException(_source, $"line {_line}, field {fields.Count + 1}",
                        "a comma or the end of the line after a closing quote", $"'{(char)c}'",
                        "Put the whole value inside the quotes, or double a quote (\"\") that is part of the value.");
            }
            else
            {
                while (c != ',' && c != '\r' && c != '\n' && c != -1)
                {
                    _field.Append((char)c);
                    c = _reader.Read();
                }
            }

            fields.Add(_field.ToString());
            if (c == ',')
            {
                c = _reader.Read();
                continue;
            }
            if (c != -1) EndLine(c);
            return true;
        }
    }

    private void EndLine(int c)
    {
        if (c == '\r' && _reader.Peek() == '\n') _reader.Read();
        _line++;
    }
}
