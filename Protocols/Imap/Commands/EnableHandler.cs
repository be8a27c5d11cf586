using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>ENABLE (RFC 5161, RFC 9051 §6.3.1): CONDSTORE, QRESYNC, UTF8=ACCEPT, UIDONLY and IMAP4rev2 can be enabled; others are ignored.</summary>
internal static class EnableHandler
{
    public static Task<ImapCompletion> RunAsync(EnableCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var enabled = new List<string>();
        foreach (var name in command.Capabilities)
        {
            if (name == "CONDSTORE" && !session.CondStoreEnabled)
            {
                session.CondStoreEnabled = true;
                enabled.Add(name);
            }
            else if (name == "QRESYNC" && !session.QResyncEnabled)
            {
                // RFC 7162 §3.2.3: enabling QRESYNC implies CONDSTORE (which is not listed again if it was on already).
                session.QResyncEnabled = true;
                if (!session.CondStoreEnabled)
                {
                    session.CondStoreEnabled = true;
                    enabled.Add("CONDSTORE");
                }
                enabled.Add(name);
            }
            else if (name == "UTF8=ACCEPT" && !session.Utf8Enabled)
            {
                session.Utf8Enabled = true; // RFC 6855 §3
                enabled.Add(name);
            }
            else if (name == "UIDONLY" && !session.UidOnlyEnabled)
            {
                session.UidOnlyEnabled = true; // RFC 9586 §3.1
                enabled.Add(name);
            }
            else if (name == "IMAP4REV2" && !session.Rev2Enabled)
            {
                session.Rev2Enabled = true;
                session.Utf8Enabled = true; // RFC 9051 §6.3.1: a rev2 client sends and takes UTF-8 names
                enabled.Add("IMAP4rev2");
            }
        }
        session.Writer.BeginUntagged().Atom("ENABLED");
        foreach (var name in enabled)
            session.Writer.Atom(name);
        session.Writer.End();
        return Task.FromResult(ImapCompletion.Ok("ENABLE completed"));
    }
}
