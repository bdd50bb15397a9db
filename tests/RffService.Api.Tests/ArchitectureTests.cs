using Assembly = System.Reflection.Assembly;
using ArchUnitNET.Domain;
using ArchUnitNET.Loader;
using RffService.Inference;
using RffService.Onnx;
using RffService.Training.Commands;
using RffService.Vision.Configuration;

namespace RffService.Api.Tests;

/// <summary>The layering rules: projects depend only downwards, and no namespace depends on itself through others.</summary>
public class ArchitectureTests
{
    private static readonly Assembly[] Assemblies =
    [
        typeof(Program).Assembly, typeof(InferenceOptions).Assembly, typeof(ModelConfig).Assembly, typeof(GraphBuilder).Assembly, typeof(Cli).Assembly,
    ];

    private static readonly Lazy<Architecture> Model = new(() => new ArchLoader().LoadAssemblies(Assemblies).Build());

    [Fact]
    public void Projects_depend_only_on_the_layers_below_them()
    {
        var allowed = new Dictionary<string, string[]>
        {
            ["RffService.Onnx"] = [],
            ["RffService.Vision"] = [],
            ["RffService.Inference"] = ["RffService.Onnx", "RffService.Vision"],
            ["RffService.Training"] = ["RffService.Onnx", "RffService.Vision"],
            ["RffService.Api"] = ["RffService.Inference", "RffService.Onnx", "RffService.Vision"],
        };
        foreach (var assembly in Assemblies)
        {
            string name = assembly.GetName().Name!;
            var references = assembly.GetReferencedAssemblies().Select(r => r.Name!).ToList();
            Assert.All(references.Where(r => r.StartsWith("RffService.", StringComparison.Ordinal)), r => Assert.Contains(r, allowed[name]));
            if (name is not "RffService.Api")
                Assert.DoesNotContain(references, r => r.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void No_namespace_depends_on_itself_through_another()
    {
        var edges = new Dictionary<string, HashSet<string>>();
        var examples = new Dictionary<(string, string), string>();
        foreach (var type in Model.Value.Types.Where(t => Ours(t.Namespace.FullName)))
            foreach (var dependency in type.Dependencies)
            {
                string from = type.Namespace.FullName, to = dependency.Target.Namespace?.FullName ?? "";
                if (from == to || !Ours(to)) continue;
                (edges.TryGetValue(from, out var targets) ? targets : edges[from] = []).Add(to);
                examples.TryAdd((from, to), $"{type.FullName} -> {dependency.Target.FullName}");
            }
        // Constants are inlined by the compiler, so the assemblies do not show a dependency that is only a constant;
        // the source's using directives do (unused ones are refused by dotnet format, IDE0005 in .editorconfig).
        foreach (var (from, to, file) in UsingDirectives())
            if (from != to && Ours(from) && Ours(to))
            {
                (edges.TryGetValue(from, out var targets) ? targets : edges[from] = []).Add(to);
                examples.TryAdd((from, to), $"{file}: using {to}");
            }
        Assert.True(edges.Count > 10, "the dependency model found too few namespaces to be meaningful");
        Assert.Contains("RffService.Inference.Models", edges["RffService.Inference.Classification"]);

        var cycles = StronglyConnectedComponents(edges).Where(c => c.Count > 1).ToList();
        Assert.True(cycles.Count == 0, "namespace cycles:\n" + string.Join("\n", cycles.Select(c =>
            string.Join(", ", c) + ":\n    " + string.Join("\n    ", examples.Where(e => c.Contains(e.Key.Item1) && c.Contains(e.Key.Item2)).Select(e => e.Value)))));
    }

    [Fact]
    public void The_cycle_check_finds_a_cycle_when_there_is_one()
    {
        var graph = new Dictionary<string, HashSet<string>> { ["a"] = ["b"], ["b"] = ["c"], ["c"] = ["a", "d"], ["d"] = [] };
        var cycle = Assert.Single(StronglyConnectedComponents(graph), c => c.Count > 1);
        Assert.Equal(["a", "b", "c"], cycle.Order());
    }

    /// <summary>(namespace, used namespace, file) for each using directive of our sources.</summary>
    private static IEnumerable<(string From, string To, string File)> UsingDirectives()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "RffService.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var src = Path.Combine(dir.FullName, "src");
        foreach (var file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") || file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}")) continue;
            string text = File.ReadAllText(file);
            var ns = System.Text.RegularExpressions.Regex.Match(text, @"^namespace ([\w.]+);", System.Text.RegularExpressions.RegexOptions.Multiline);
            if (!ns.Success) continue;
            foreach (System.Text.RegularExpressions.Match use in System.Text.RegularExpressions.Regex.Matches(text, @"^using (RffService[\w.]*);", System.Text.RegularExpressions.RegexOptions.Multiline))
                yield return (ns.Groups[1].Value, use.Groups[1].Value, Path.GetRelativePath(src, file));
        }
    }

    /// <summary>Our namespaces, without the code generated from onnx.proto (its messages reference each other by design).</summary>
    private static bool Ours(string ns) => ns.StartsWith("RffService.", StringComparison.Ordinal) && !ns.StartsWith("RffService.Onnx.Proto", StringComparison.Ordinal);

    /// <summary>Tarjan's algorithm: the graph's strongly connected components (a component of several nodes is a cycle).</summary>
    private static List<List<string>> StronglyConnectedComponents(Dictionary<string, HashSet<string>> edges)
    {
        var index = new Dictionary<string, int>();
        var low = new Dictionary<string, int>();
        var stack = new Stack<string>();
        var onStack = new HashSet<string>();
        var components = new List<List<string>>();
        int next = 0;
        foreach (var node in edges.Keys.Concat(edges.Values.SelectMany(v => v)).Distinct().ToList())
            if (!index.ContainsKey(node)) Visit(node);
        return components;

        void Visit(string node)
        {
            index[node] = low[node] = next++;
            stack.Push(node);
            onStack.Add(node);
            foreach (var target in edges.GetValueOrDefault(node) ?? [])
            {
                if (!index.ContainsKey(target))
                {
                    Visit(target);
                    low[node] = Math.Min(low[node], low[target]);
                }
                else if (onStack.Contains(target)) low[node] = Math.Min(low[node], index[target]);
            }
            if (low[node] != index[node]) return;
            var component = new List<string>();
            string member;
            do
            {
                member = stack.Pop();
                onStack.Remove(member);
                component.Add(member);
            } while (member != node);
            components.Add(component);
        }
    }
}
