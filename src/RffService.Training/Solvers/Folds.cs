namespace RffService.Training.Solvers;

public static class Folds
{
    /// <summary>Assigns each of <paramref name="count"/> items to one of <paramref name="k"/> folds: a seeded shuffle dealt round-robin, so folds are disjoint, cover everything and differ in size by at most one.</summary>
    public static int[] Assign(int count, int k, int seed)
    {
        if (k < 2) throw new ArgumentException("Cross-validation needs at least 2 folds.");
        var order = Enumerable.Range(0, count).ToArray();
        new Random(seed).Shuffle(order);
        var fold = new int[count];
        for (int i = 0; i < count; i++) fold[order[i]] = i % k;
        return fold;
    }
}
