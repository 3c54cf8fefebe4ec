from elms.core import sql


def test_insert_numbers_one_placeholder_per_column():
    assert sql.insert("t", ["a", "b"], "a") == "INSERT INTO t (a, b) VALUES ($1, $2) RETURNING a"
    assert sql.insert("t", ["a"]) == "INSERT INTO t (a) VALUES ($1)"


def test_assignments_start_at_the_given_parameter_and_keep_fixed_ones():
    assert sql.assignments(["a", "b"], 3, "u = $2") == "a = $3, b = $4, u = $2"
    assert sql.assignments([], 3, "u = $2") == "u = $2"


def test_conditions_skip_absent_filters_and_bind_the_rest_in_order():
    args: list = ["first"]
    found = sql.conditions([("a = {}", 1), ("b = {}", None), ("(c = {0} OR d = {0})", "x")], args)
    assert found == ["a = $2", "(c = $3 OR d = $3)"]
    assert args == ["first", 1, "x"]
