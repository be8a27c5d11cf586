using System.Text;
using System.Text.RegularExpressions;
using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// LIST (RFC 9051 §6.3.9) with LIST-EXTENDED selection/return options (RFC 5258), SPECIAL-USE attributes
/// (RFC 6154, always returned), CHILDREN (\HasChildren / \HasNoChildren, RFC 3348) and LIST-STATUS (RFC 5819);
/// and LSUB (RFC 3501 §6.3.9).
/// </summary>
internal static class ListHandler
{
    public static Task<ImapCompletion> RunAsync(ListCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var w = session.Writer;
        // RFC 9051 §6.3.9: an empty pattern asks for the delimiter and the root.
        if (command.Patterns.Count == 1 && command.Patterns[0].Length == 0 && command.Selection == ListSelectOptions.None)
        {
            w.BeginUntagged().Atom("LIST").BeginList().Atom(@"\Noselect").EndList().String(MailboxNames.Delimiter).String("").End();
            return Task.FromResult(ImapCompletion.Ok("LIST completed"));
        }
        var mailboxId = session.Account.MailboxId;
        var folders = session.Store.ListFolders(mailboxId);
        session.RecordAccess(MailboxAccessAction.ReadHierarchy, MailboxObjectType.Folder, null, null, null); // workmail-behaviour §19.1
        var reference = MailboxNames.FromWire(session, command.Reference);
        var matchers = command.Patterns.Select(p => Matcher(reference, MailboxNames.FromWire(session, p))).ToList();
        var subscribedOnly = command.Selection.HasFlag(ListSelectOptions.Subscribed);
        var specialOnly = command.Selection.HasFlag(ListSelectOptions.SpecialUse);
        var showSubscribed = subscribedOnly || command.Return.HasFlag(ListReturnOptions.Subscribed);

        foreach (var folder in folders)
        {
            if (!matchers.Any(m => m.IsMatch(folder.Name)))
                continue;
            var subscribed = folder.Subscribed;
            if (subscribedOnly && !subscribed)
            {
                // RFC 5258 §3.5: with RECURSIVEMATCH a parent of subscribed mailboxes is listed with CHILDINFO.
                if (command.Selection.HasFlag(ListSelectOptions.RecursiveMatch) && folders.Any(f =>
                        f.Name.StartsWith(folder.Name + "/", StringComparison.Ordinal) && f.Subscribed))
                {
                    w.BeginUntagged().Atom("LIST").BeginList().EndList().String(MailboxNames.Delimiter).Mailbox(folder.Name)
                        .BeginList().String("CHILDINFO").BeginList().String("SUBSCRIBED").EndList().EndList().End();
                }
                continue;
            }
            var special = MailboxNames.SpecialUseAttribute(folder.SpecialUse);
            if (specialOnly && special is null)
                continue;
            w.BeginUntagged().Atom("LIST").BeginList();
            w.Atom(folders.Any(f => f.Name.StartsWith(folder.Name + "/", StringComparison.Ordinal)) ? @"\HasChildren" : @"\HasNoChildren");
            if (special is not null)
                w.Atom(special);
            if (showSubscribed && subscribed)
                w.Atom(@"\Subscribed");
            w.EndList().String(MailboxNames.Delimiter).Mailbox(folder.Name).End();
            if (command.Return.HasFlag(ListReturnOptions.Status))
                StatusHandler.WriteStatus(session, folder, command.StatusItems);
        }
        if (!subscribedOnly && !specialOnly)
            ListOtherUsers(session, matchers, command);
        if (subscribedOnly && !specialOnly)
        {
            // RFC 5258 §3.1: subscribed names that are not mailboxes are listed as \NonExistent.
            foreach (var name in session.Store.ListSubscriptions(mailboxId))
            {
                if (folders.Any(f => f.Name == name) || !matchers.Any(m => m.IsMatch(name)))
                    continue;
                w.BeginUntagged().Atom("LIST").BeginList().Atom(@"\NonExistent").Atom(@"\Subscribed").EndList()
                    .String(MailboxNames.Delimiter).Mailbox(name).End();
            }
        }
        return Task.FromResult(ImapCompletion.Ok("LIST completed"));
    }

    /// <summary>
    /// The Other Users namespace (RFC 2342 §5): "Other Users" and "Other Users/&lt;owner&gt;" as \Noselect parents, then
    /// every folder of each mailbox the user holds Full Access to now. Special-use attributes are not repeated there,
    /// so a client never takes another user's Sent Items for its own.
    /// </summary>
    private static void ListOtherUsers(ImapSession session, List<Regex> matchers, ListCommand command)
    {
        var owners = MailboxNames.FullAccessOwners(session);
        if (owners.Count == 0)
            return;
        var w = session.Writer;
        void Parent(string name)
        {
            if (matchers.Any(m => m.IsMatch(name)))
                w.BeginUntagged().Atom("LIST").BeginList().Atom(@"\Noselect").Atom(@"\HasChildren").EndList()
                    .String(MailboxNames.Delimiter).Mailbox(name).End();
        }
        Parent(MailboxNames.OtherUsersRoot);
        foreach (var owner in owners)
        {
            var prefix = $"{MailboxNames.OtherUsersRoot}/{owner.Email}";
            if (session.Store.FindMailbox(owner.OrganizationId, owner.Email) is not { } mailbox)
                continue;
            Parent(prefix);
            var folders = session.Store.ListFolders(mailbox.MailboxId);
            foreach (var folder in folders)
            {
                var name = $"{prefix}/{folder.Name}";
                if (!matchers.Any(m => m.IsMatch(name)))
                    continue;
                w.BeginUntagged().Atom("LIST").BeginList()
                    .Atom(folders.Any(f => f.Name.StartsWith(folder.Name + "/", StringComparison.Ordinal)) ? @"\HasChildren" : @"\HasNoChildren")
                    .EndList().String(MailboxNames.Delimiter).Mailbox(name).End();
                if (command.Return.HasFlag(ListReturnOptions.Status))
                    StatusHandler.WriteStatus(session, folder, command.StatusItems, name);
            }
        }
    }

    public static Task<ImapCompletion> RunLsubAsync(LsubCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var mailboxId = session.Account.MailboxId;
        session.RecordAccess(MailboxAccessAction.ReadHierarchy, MailboxObjectType.Folder, null, null, null); // workmail-behaviour §19.1
        var matcher = Matcher(MailboxNames.FromWire(session, command.Reference), MailboxNames.FromWire(session, command.Pattern));
        var folders = session.Store.ListFolders(mailboxId);
        // Folders in the store's order, then subscribed names that are not folders.
        var names = folders.Where(f => f.Subscribed).Select(f => f.Name)
            .Concat(session.Store.ListSubscriptions(mailboxId).Where(n => !folders.Any(f => f.Name == n)))
            .ToList();
        // RFC 3501 §6.3.9: with "%", a subscribed "foo/bar" whose parent "foo" is not subscribed answers "foo" as
        // \Noselect (the parent is what "%" reaches).
        var percent = command.Pattern.Contains('%', StringComparison.Ordinal);
        var answered = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            if (percent)
            {
                for (var slash = name.IndexOf('/', StringComparison.Ordinal); slash > 0; slash = name.IndexOf('/', slash + 1))
                {
                    var parent = name[..slash];
                    if (!names.Contains(parent) && matcher.IsMatch(parent) && answered.Add(parent))
                        WriteLsub(session, parent, noselect: true);
                }
            }
            if (matcher.IsMatch(name) && answered.Add(name))
                WriteLsub(session, name, noselect: !folders.Any(f => f.Name == name));
        }
        return Task.FromResult(ImapCompletion.Ok("LSUB completed"));
    }

    private static void WriteLsub(ImapSession session, string name, bool noselect)
    {
        session.Writer.BeginUntagged().Atom("LSUB").BeginList();
        if (noselect)
            session.Writer.Atom(@"\Noselect");
        session.Writer.EndList().String(MailboxNames.Delimiter).Mailbox(name).End();
    }

    /// <summary>The pattern as a regex: <c>*</c> matches anything, <c>%</c> anything but the delimiter (RFC 9051 §6.3.9);
    /// INBOX matches case-insensitively.</summary>
    private static Regex Matcher(string reference, string pattern)
    {
        var full = reference + pattern;
        if (full.Length >= 5 && full[..5].Equals(MailboxName.Inbox, StringComparison.OrdinalIgnoreCase) && (full.Length == 5 || full[5] == '/'))
            full = MailboxName.Inbox + full[5..];
        var regex = new StringBuilder("^");
        foreach (var c in full)
        {
            regex.Append(c switch
            {
                '*' => ".*",
                '%' => "[^/]*",
                _ => Regex.Escape(c.ToString()),
            });
        }
        regex.Append('$');
        return new Regex(regex.ToString(), RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
    }
}
