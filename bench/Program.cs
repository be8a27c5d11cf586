// mailserver-bench: load tools that measure a running server from the outside, over real sockets.
// Every figure printed is "from first command to last acknowledgement": for SMTP, a 250 to DATA,
// which the server only sends once the message is encrypted and fsync'd; for IMAP, the tagged OK.
using MailServer.Bench;

if (args.Length > 0 && args[0] == "search")
    return await SearchBench.RunAsync(args);
if (args.Length > 0 && args[0] == "store")
    return await StoreBench.RunAsync(args);

var parsed = BenchArguments.Parse(args);
if (parsed is null)
{
    Console.Error.WriteLine("""
        usage: mailserver-bench smtp [--host H] [--port P] [--to ADDR] [--from ADDR]
                                     [--messages N] [--sessions M] [--size BYTES|1k|10k|100k|1m ...]
          Sends N messages of each size over M concurrent SMTP sessions and prints messages/s, MB/s
          and per-message latency (p50/p99) from DATA sent to 250 received.

        usage: mailserver-bench imap --password PW [--host H] [--port P] [--user ADDR] [--word W]
                                     [--appends N] [--append-clients M] [--logins L]
                                     [--clients C] [--operations K] [--phases single,append,login,mixed]
                                     [--warmup PERCENT]
          Over STARTTLS: times SELECT INBOX, FETCH 1:* (FLAGS), a 50-message header FETCH and SEARCH BODY W;
          then APPEND rate (N appends from M clients into the folder "Bench Appends"), LOGIN rate
          (L connect + STARTTLS + LOGIN + LOGOUT over M clients) and a mixed load of C clients doing K
          operations each (NOOP / FETCH 20 FLAGS / UID SEARCH UNSEEN / STORE \Flagged), with p50/p99.
          single also times 200 FETCHes of a 20-message page (FLAGS) from one client, one at a time.
          Each rate run follows an unreported warm-up run of PERCENT (20) of its size: steady-state figures.
          --phases picks the runs (all by default). The server allows 20 IMAP connections per address: keep M and C
          at or below that.

        usage: mailserver-bench imap-stress --password PW [--host H] [--port P] [--user ADDR] [--sessions N]
                                            [--seconds S] [--plain]
          N sessions (20) on the user's INBOX run random APPEND, FETCH, STORE, SEARCH, EXPUNGE, MOVE, IDLE and NOOP
          for S seconds (60), each checking the responses against its model of the mailbox; prints the commands run
          and every response the RFCs forbid (the goal is none). STARTTLS unless --plain. Use a scratch account.

        usage: mailserver-bench search --password PW [--host H] [--port P] [--user ADDR] [--messages N] [--runs R] [--plain]
          Fills the folder "Search Bench" with N (100,000) generated 2 KiB messages by MULTIAPPEND (64 a command; only what is
          missing), waits for the server's search index, then times UID SEARCH BODY / TEXT for a rare word, a common
          word, substrings, phrases and a key the index cannot answer (median and minimum of R runs, 5).

        usage: mailserver-bench store --engine LiteDb|PostgreSql [--connection CONNECTION_STRING] [--scale X]
          The store engines on their own, no SMTP or IMAP: deliveries of 4 KiB to sixteen mailboxes by 1 and 16 writers,
          and the outbound queue's enqueue and claim-and-settle rates by 1 and 8 claimers (X scales the message counts).
          LiteDB in a scratch folder; PostgreSQL on the database named (its tables are emptied first). bench/store.sh
          runs both on a private PostgreSQL cluster.

        usage: mailserver-bench submit --password PW [--host H] [--port P] [--user ADDR] [--sink-port S | --external-sink]
                                       [--messages N] [--sessions M] [--size BYTES|1k|100k ...]
          Submission (STARTTLS + AUTH) of N messages to sink@[127.0.0.1] over M sessions; this tool listens as the
          remote receiver on S (the server's Delivery.RemotePort) and prints the rate from first submission to
          last message received there. --external-sink: another program is the receiver; prints the submission rate.
        """);
    return 1;
}

if (parsed.Mode == "imap")
{
    await foreach (var line in ImapLoad.RunAsync(parsed, CancellationToken.None))
        Console.WriteLine(line);
    return 0;
}

if (parsed.Mode == "imap-stress")
{
    var report = await ImapStress.RunAsync(new ImapStressOptions(parsed.Host, parsed.Port, parsed.User, parsed.Password, parsed.Sessions,
        TimeSpan.FromSeconds(parsed.Seconds), parsed.StartTls), CancellationToken.None);
    foreach (var line in report.Format())
        Console.WriteLine(line);
    return report.Violations.Count == 0 ? 0 : 2;
}

if (parsed.Mode == "submit")
{
    foreach (var size in parsed.Sizes)
        Console.WriteLine(await SubmitLoad.RunAsync(parsed, size, CancellationToken.None));
    return 0;
}

foreach (var size in parsed.Sizes)
{
    var result = await SmtpLoad.RunAsync(parsed with { Sizes = [size] }, size, CancellationToken.None);
    Console.WriteLine(result.Format());
}
return 0;
