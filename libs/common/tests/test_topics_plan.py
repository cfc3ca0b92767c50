from switchboard_common.topics import TopicNames, load_topic_plan, plan_topics


def test_packaged_plan_has_a_topic_per_department_and_dead_letters_for_consumed_topics():
    plan = load_topic_plan()
    names = {spec.name: spec for spec in plan_topics(plan, TopicNames("x."))}
    for department in plan.departments:
        assert f"x.dept.{department}.v1" in names
    assert "x.intake.messages.v1.dlq" in names
    assert "x.intake.classified.v1.dlq" in names


def test_pipeline_topics_share_one_partition_count_so_conversations_are_co_partitioned():
    plan = load_topic_plan()
    specs = {s.name: s for s in plan_topics(plan, TopicNames())}
    counts = {specs[t].partitions for t, o in plan.topics.items() if o.pipeline}
    assert counts == {plan.pipeline_partitions}
