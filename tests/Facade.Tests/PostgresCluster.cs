using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>The test collection of everything that needs PostgreSQL: one throwaway cluster for the whole run.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PostgresCollection : ICollectionFixture<PostgresCluster>
{
    /// <summary>The collection's name.</summary>
    public const string Name = "PostgreSQL";
}

/// <summary>
/// A throwaway PostgreSQL cluster with pgvector for the tests: <c>initdb</c> in a temporary folder (as the
/// <c>postgres</c> user when the tests run as root, since initdb refuses root), a unix socket in that folder and a free
/// loopback TCP port with password (SCRAM) authentication, <c>pg_ctl start</c>, a database <c>distembed</c> with
/// <c>CREATE EXTENSION vector</c>; stopped and deleted at the end. Missing binaries fail every test that uses it, loudly
/// (<c>./build.sh setup</c> installs them): the database tests never skip.
/// </summary>
public sealed class PostgresCluster : IDisposable
{
    /// <summary>The database with the pgvector extension.</summary>
    public const string Database = "distembed";

    private readonly string data;
    private readonly bool asPostgres;
    private int disposed;

    /// <summary>Finds the binaries, creates the cluster and starts it.</summary>
    public PostgresCluster()
    {
        BinDirectory = FindBinaries();
        asPostgres = Environment.UserName == "root";
        Root = Path.Combine(Path.GetTempPath(), "distembed-pg-" + Guid.NewGuid().ToString("N")[..10]);
        data = Path.Combine(Root, "data");
        Directory.CreateDirectory(Root);
        try
        {
            if (asPostgres) Run("chown", ["postgres:postgres", Root], asUser: false);
            Run(Path.Combine(BinDirectory, "initdb"),
                ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"], asUser: true);
            Port = FreePort();
            File.AppendAllText(Path.Combine(data, "postgresql.conf"), $"""

                listen_addresses = '127.0.0.1'
                port = {Port}
                unix_socket_directories = '{Root}'
                fsync = off
                synchronous_commit = off
                full_page_writes = off
                max_connections = 40
                password_encryption = 'scram-sha-256'
                """);
            File.WriteAllText(Path.Combine(data, "pg_hba.conf"), """
                local all all trust
                host all all 127.0.0.1/32 scram-sha-256
                """);
            Run(Path.Combine(BinDirectory, "pg_ctl"), ["-D", data, "-l", Path.Combine(Root, "server.log"), "-w", "-t", "60", "start"], asUser: true);
            AppDomain.CurrentDomain.ProcessExit += (_, _) => Dispose();
            Sql($"CREATE DATABASE {Database}");
            Sql("CREATE EXTENSION vector", Database);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The PostgreSQL bin folder used (DISTEMBED_PG_BIN or the newest /usr/lib/postgresql/N/bin with pgvector).</summary>
    public string BinDirectory { get; }

    /// <summary>The temporary folder: data directory, unix socket, server log.</summary>
    public string Root { get; }

    /// <summary>The port: TCP on 127.0.0.1 and the socket's number.</summary>
    public int Port { get; }

    /// <summary>A connection string over the unix socket (trust), as the superuser by default.</summary>
    /// <param name="database">The database.</param>
    /// <param name="user">The role.</param>
    public string ConnectionString(string database = Database, string user = "postgres") =>
        $"Host={Root};Port={Port};Username={user};Database={database};Timeout=10;Command Timeout=120";

    /// <summary>A connection string over TCP on 127.0.0.1 (SCRAM password authentication).</summary>
    /// <param name="user">The role.</param>
    /// <param name="password">The password.</param>
    /// <param name="database">The database.</param>
    public string TcpConnectionString(string user, string password, string database = Database) =>
        $"Host=127.0.0.1;Port={Port};Username={user};Password={password};Database={database};Timeout=10";

    /// <summary>Runs SQL as the superuser (no pooling) and returns the first column of the first row, if any.</summary>
    /// <param name="sql">The statement.</param>
    /// <param name="database">The database (default postgres).</param>
    public object? Sql(string sql, string database = "postgres")
    {
        using var conn = new NpgsqlConnection(ConnectionString(database) + ";Pooling=false");
        conn.Open();
        using var command = new NpgsqlCommand(sql, conn);
        return command.ExecuteScalar();
    }

    /// <summary>Stops the server (immediate) and deletes the folder.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1) return;
        NpgsqlConnection.ClearAllPools();
        try
        {
            if (File.Exists(Path.Combine(data, "postmaster.pid")))
                Run(Path.Combine(BinDirectory, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"], asUser: true);
        }
        finally
        {
            try { Directory.Delete(Root, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    private static string FindBinaries()
    {
        if (Environment.GetEnvironmentVariable("DISTEMBED_PG_BIN") is { Length: > 0 } bin)
        {
            if (File.Exists(Path.Combine(bin, "initdb")) && File.Exists(Path.Combine(bin, "pg_ctl"))) return bin;
            throw new InvalidOperationException($"DISTEMBED_PG_BIN = {bin} has no initdb and pg_ctl.");
        }
        var candidates = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => (Dir: d, Version: int.TryParse(Path.GetFileName(d), out var v) ? v : -1))
                .Where(c => c.Version > 0
                    && File.Exists(Path.Combine(c.Dir, "bin", "initdb"))
                    && File.Exists($"/usr/share/postgresql/{c.Version}/extension/vector.control"))
                .OrderByDescending(c => c.Version).ToList()
            : [];
        if (candidates.Count == 0)
            throw new InvalidOperationException(
                "PostgreSQL with pgvector is not installed (no /usr/lib/postgresql/N/bin/initdb with /usr/share/postgresql/N/extension/vector.control); "
                + "the database tests need it: run ./build.sh setup as root (installs postgresql-17 and postgresql-17-pgvector) or set DISTEMBED_PG_BIN.");
        return Path.Combine(candidates[0].Dir, "bin");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private void Run(string program, string[] arguments, bool asUser)
    {
        var info = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Root,
        };
        if (asUser && asPostgres)
        {
            info.FileName = new[] { "/usr/sbin/runuser", "/sbin/runuser" }.FirstOrDefault(File.Exists) ?? "runuser";
            foreach (var a in new[] { "-u", "postgres", "--", program }) info.ArgumentList.Add(a);
        }
        else info.FileName = program;
        foreach (var a in arguments) info.ArgumentList.Add(a);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {program}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{program} {string.Join(" ", arguments)} did not finish in 120 s.");
        }
        if (process.ExitCode != 0)
        {
            var log = Path.Combine(Root, "server.log");
            throw new InvalidOperationException(
                $"{Path.GetFileName(program)} {string.Join(" ", arguments)} exited {process.ExitCode}: {stderr.Result.Trim()} {stdout.Result.Trim()}"
                + (File.Exists(log) ? " | server.log: " + File.ReadAllText(log).Trim() : ""));
        }
    }
}
