namespace MailServer.Protocols.Smtp;

/// <summary>
/// The syntax of a DATA section on the wire, fed in pieces as they arrive: finds its end (a line holding only ".",
/// i.e. CRLF "." CRLF, RFC 5321 §4.1.1.4) and undoes the transparency procedure (RFC 5321 §4.5.2: a line that starts
/// with "." and holds more has that first "." removed). What comes out is the message as the client meant it, each
/// line with its CRLF, the CRLF before the final "." included (it ends the last line). Lines are only those ended by
/// CRLF, as for the SmtpServer package before: a "." after a bare LF is content (and a message with a bare LF is
/// refused later, <see cref="MessageChecks.HasBareLineEndingOrNul"/>). The section starts at a line start (the DATA
/// command line ended with CRLF), so "." as the first line is an empty message. Pure: no I/O.
/// </summary>
internal sealed class DotUnstuffer
{
    private enum State
    {
        LineStart,  // after CRLF
        Mid,        // inside a line
        AfterCr,    // a CR inside a line (already passed on): an LF ends the line
        Dot,        // a "." at a line start (held back)
        DotCr,      // "." CR at a line start (both held back): an LF ends the section
    }

    private State _state = State.LineStart;

    /// <summary>True once the terminating line was seen; nothing more is consumed.</summary>
    public bool Ended { get; private set; }

    /// <summary>
    /// Consumes <paramref name="input"/> up to and including the terminating line (or all of it) and writes the message
    /// bytes it holds to <paramref name="output"/>, which must have room for <c>input.Length + 1</c> bytes (a CR held
    /// back at the end of the previous piece may come out with this one).
    /// </summary>
    /// <returns>How many input bytes were consumed (less than the input only when the section ended inside it: the
    /// rest belongs to the next command) and how many message bytes were written.</returns>
    /// <exception cref="ArgumentException"><paramref name="output"/> is shorter than <c>input.Length + 1</c>.</exception>
    public (int Consumed, int Produced) Feed(ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (output.Length < input.Length + 1)
            throw new ArgumentException("The output needs room for the input plus one byte.", nameof(output));
        var i = 0;
        var o = 0;
        while (i < input.Length && !Ended)
        {
            switch (_state)
            {
                case State.Mid:
                    var cr = input[i..].IndexOf((byte)'\r');
                    var run = cr < 0 ? input.Length - i : cr + 1;
                    input.Slice(i, run).CopyTo(output[o..]);
                    o += run;
                    i += run;
                    if (cr >= 0)
                        _state = State.AfterCr;
                    break;
                case State.AfterCr:
                    if (input[i] == '\n')
                    {
                        output[o++] = (byte)'\n';
                        i++;
                        _state = State.LineStart;
                    }
                    else
                    {
                        _state = State.Mid;
                    }
                    break;
                case State.LineStart:
                    if (input[i] == '.')
                    {
                        i++;
                        _state = State.Dot;
                    }
                    else
                    {
                        _state = State.Mid;
                    }
                    break;
                case State.Dot:
                    if (input[i] == '\r')
                    {
                        i++;
                        _state = State.DotCr;
                    }
                    else
                    {
                        _state = State.Mid; // the leading "." was stuffing: dropped
                    }
                    break;
                case State.DotCr:
                    if (input[i] == '\n')
                    {
                        i++;
                        Ended = true;
                    }
                    else
                    {
                        // "." CR and no LF: the "." was stuffing, the CR is content.
                        output[o++] = (byte)'\r';
                        _state = State.AfterCr;
                    }
                    break;
            }
        }
        return (i, o);
    }
}
