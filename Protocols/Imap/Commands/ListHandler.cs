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
        session.RecordAccess(MailboxAccessAction.ReadHierarchy, MailboxObjectType.Folder, null, null, null); // WorkMail Administrator Guide, "Mailbox access logs"
        var matchers = Matchers(session, command.Reference, command.Patterns);
        var subscribedOnly = command.Selection.HasFlag(ListSelectOptions.Subscribed);
        var specialOnly = command.Selection.HasFlag(ListSelectOptions.SpecialUse);
        var recursive = command.Selection.HasFlag(ListSelectOptions.RecursiveMatch) && subscribedOnly;
        var showSubscribed = subscribedOnly || command.Return.HasFlag(ListReturnOptions.Subscribed);
        var byName = new Dictionary<string, FolderInfo>(StringComparer.Ordinal);
        foreach (var folder in folders)
            byName.TryAdd(folder.Name, folder);
        // Subscribed names: folders marked so, and names that are not folders (RFC 9051 §6.3.7).
        var others = subscribedOnly || showSubscribed
            ? session.Store.ListSubscriptions(mailboxId).Where(n => !byName.ContainsKey(n)).ToList()
            : [];
        var subscribed = new HashSet<string>(folders.Where(f => f.Subscribed).Select(f => f.Name).Concat(others), StringComparer.Ordinal);

        // Candidates in order: the folders, then subscribed names that are not folders, then (RECURSIVEMATCH) the
        // parents of subscribed names that are neither.
        var candidates = new List<string>(folders.Select(f => f.Name));
        var seen = new HashSet<string>(candidates, StringComparer.Ordinal);
        if (subscribedOnly)
            foreach (var name in others)
                if (seen.Add(name))
                    candidates.Add(name);
        if (recursive)
            foreach (var name in subscribed.ToList())
                for (var slash = name.IndexOf('/', StringComparison.Ordinal); slash > 0; slash = name.IndexOf('/', slash + 1))
                    if (seen.Add(name[..slash]))
                        candidates.Add(name[..slash]);

        foreach (var name in candidates)
        {
            if (!matchers.Any(m => m.IsMatch(name)))
                continue;
            var exists = byName.TryGetValue(name, out var folder);
            var special = exists ? MailboxNames.SpecialUseAttribute(folder!.SpecialUse) : null;
            var meetsSelection = subscribedOnly ? subscribed.Contains(name) : specialOnly ? special is not null : exists;
            if (subscribedOnly && specialOnly)
                meetsSelection &= special is not null;
            // RFC 5258 §3.5: with RECURSIVEMATCH, a name with a descendant that meets the selection carries CHILDINFO,
            // and is listed for it even when it does not meet the selection itself.
            var childInfo = recursive && subscribed.Any(n => n.Length > name.Length + 1 && n[name.Length] == '/'
                && n.StartsWith(name, StringComparison.Ordinal));
            if (!meetsSelection && !childInfo)
                continue;
            var hasChildren = folders.Any(f => f.Name.Length > name.Length + 1 && f.Name[name.Length] == '/'
                && f.Name.StartsWith(name, StringComparison.Ordinal));
            w.BeginUntagged().Atom("LIST").BeginList();
            if (!exists)
            {
                w.Atom(@"\NonExistent"); // RFC 5258 §3.4: implies \Noselect
                if (hasChildren)
                    w.Atom(@"\HasChildren");
            }
            else
            {
                w.Atom(hasChildren ? @"\HasChildren" : @"\HasNoChildren");
                if (special is not null)
                    w.Atom(special);
            }
            if (showSubscribed && subscribed.Contains(name))
                w.Atom(@"\Subscribed");
            w.EndList().String(MailboxNames.Delimiter).Mailbox(name);
            if (childInfo)
                w.BeginList().String("CHILDINFO").BeginList().String("SUBSCRIBED").EndList().EndList();
            w.End();
            if (exists && command.Return.HasFlag(ListReturnOptions.Status))
                StatusHandler.WriteStatus(session, folder!, command.StatusItems);
        }
        if (!subscribedOnly && !specialOnly)
            ListOtherUsers(session, matchers, command);
        return Task.FromResult(ImapCompletion.Ok("LIST completed"));
    }

    /// <summary>
    /// The Other Users namespace (RFC 2342 §5): "Other Users" and "Other Users/&lt;owner&gt;" as \Noselect parents, then
    /// every folder of each mailbox the user holds Full Access to now, and of each other mailbox the folders shared with
    /// the user with the lookup right (RFC 4314 §4: LIST shows a name only with l; a parent level without it is
    /// \Noselect, as RFC 9051 §6.3.9 answers a level that is not a mailbox). Special-use attributes are not repeated
    /// there, so a client never takes another user's Sent Items for its own.
    /// </summary>
    private static void ListOtherUsers(ImapSession session, List<Regex> matchers, ListCommand command)
    {
        var owners = MailboxNames.FullAccessOwners(session).Concat(MailboxNames.SharingOwners(session)).ToList();
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
            var folders = session.Store.ListFolders(mailbox.MailboxId);
            var rightsOn = FolderRights.InMailbox(session, owner.Email, mailbox.MailboxId);
            var visible = folders.Where(f => rightsOn(f.FolderId).Contains('l', StringComparison.Ordinal)).ToList();
            if (visible.Count == 0)
                continue;
            Parent(prefix);
            var written = new HashSet<string>(StringComparer.Ordinal);
            foreach (var folder in visible)
            {
                // Levels above a shared folder that the user may not look up: \Noselect, so a client can walk down to it.
                for (var slash = folder.Name.IndexOf('/', StringComparison.Ordinal); slash > 0; slash = folder.Name.IndexOf('/', slash + 1))
                {
                    var level = folder.Name[..slash];
                    if (visible.Any(f => f.Name == level) || !written.Add(level))
                        continue;
                    Parent($"{prefix}/{level}");
                }
                var name = $"{prefix}/{folder.Name}";
                if (!written.Add(folder.Name) || !matchers.Any(m => m.IsMatch(name)))
                    continue;
                w.BeginUntagged().Atom("LIST").BeginList()
                    .Atom(visible.Any(f => f.Name.StartsWith(folder.Name + "/", StringComparison.Ordinal)) ? @"\HasChildren" : @"\HasNoChildren")
                    .EndList().String(MailboxNames.Delimiter).Mailbox(name).End();
                if (command.Return.HasFlag(ListReturnOptions.Status))
                    StatusHandler.WriteStatus(session, folder, command.StatusItems, name);
            }
        }
    }

    public static Task<ImapCompletion> RunLsubAsync(LsubCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var mailboxId = session.Account.MailboxId;
        session.RecordAccess(MailboxAccessAction.ReadHierarchy, MailboxObjectType.Folder, null, null, null); // WorkMail Administrator Guide, "Mailbox access logs"
        var matcher = Matchers(session, command.Reference, [command.Pattern]).SingleOrDefault();
        if (matcher is null)
            return Task.FromResult(ImapCompletion.Ok("LSUB completed")); // not valid modified UTF-7: matches no name
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

    /// <summary>One matcher per pattern; a reference or pattern that is not valid modified UTF-7 matches nothing (it can
    /// name no mailbox) and is left out.</summary>
    private static List<Regex> Matchers(ImapSession session, string wireReference, IEnumerable<string> wirePatterns)
    {
        if (MailboxNames.TryFromWire(session, wireReference) is not { } reference)
            return [];
        return wirePatterns.Select(p => MailboxNames.TryFromWire(session, p)).OfType<string>().Select(p => Matcher(reference, p)).ToList();
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
