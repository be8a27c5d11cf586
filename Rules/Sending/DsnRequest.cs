namespace MailServer.Rules.Sending;

/// <summary>RFC 3461 §4.1 NOTIFY: which delivery status notifications the sender asked for.</summary>
[Flags]
public enum DsnNotify
{
    /// <summary>Not given: failures (and delays) are reported, success is not (RFC 3461 §4.1).</summary>
    NotGiven = 0,
    /// <summary>NEVER: no DSN at all.</summary>
    Never = 1,
    /// <summary>SUCCESS.</summary>
    Success = 2,
    /// <summary>FAILURE.</summary>
    Failure = 4,
    /// <summary>DELAY.</summary>
    Delay = 8,
}

/// <summary>RFC 3461 §4.3 RET: how much of the message a failure DSN carries.</summary>
public enum DsnReturn
{
    /// <summary>Not given: the headers only (our choice, RFC 3461 §4.3 leaves it to the server).</summary>
    NotGiven,
    /// <summary>RET=FULL: the whole message.</summary>
    Full,
    /// <summary>RET=HDRS: the header section only.</summary>
    Headers,
}
