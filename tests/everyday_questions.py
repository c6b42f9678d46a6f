"""Everyday shop-owner questions (issue: everyday store questions answered directly), written
before the routing for them was: counts, averages, rates, periods, comparisons, breakdowns and
product buyers, plus the everyday questions older tools already answer. A held-out set: the router
is not tuned on it case by case; the test reports its accuracy. Data ends on 2024-12-31 (VOCAB)."""
from __future__ import annotations

from tests.router_questions import VOCAB, Case  # noqa: F401 - VOCAB is the store the questions are asked of

C = Case

EVERYDAY: list[Case] = [
    # figures and rates
    C("what's our average order value?", "store_metrics"),
    C("whats the AOV this year", "store_metrics", {"period": "this_year"}),
    C("average basket size last month", "store_metrics", {"period": "2024-11"}),
    C("what's our return rate?", "store_metrics"),
    C("return rate in Q3", "store_metrics", {"period": "2024-Q3"}),
    C("how many customers do I have?", "store_metrics"),
    C("how many orders in November?", "store_metrics", {"period": "2024-11"}),
    C("how many orders did we get last week", "store_metrics"),
    C("total revenue 2024", "store_metrics", {"period": "2024"}),
    C("how much did we sell last quarter?", "store_metrics", {"period": "last_quarter"}),
    C("net revenue this year", "store_metrics", {"period": "this_year"}),
    C("gross sales in 2023", "store_metrics", {"period": "2023"}),
    C("how many new customers did we get in 2024?", "store_metrics", {"period": "2024"}),
    C("new customers this month", "store_metrics", {"period": "2024-12"}),
    C("how many returning customers last quarter", "store_metrics", {"period": "last_quarter"}),
    C("how much did we give away in discounts this year", "store_metrics", {"period": "this_year"}),
    C("units sold in december", "store_metrics", {"period": "2024-12"}),
    C("how many guest orders do we get", "store_metrics"),
    C("repeat customer rate this year", "store_metrics", {"period": "this_year"}),
    C("how many orders have we had in total", "store_metrics"),
    C("what % of orders are returned", "store_metrics"),
    C("how many active customers in 2024", "store_metrics", {"period": "2024"}),
    C("how much revenue came from new customers this year", "store_metrics", {"period": "this_year"}),
    C("how are we doing this month?", "store_metrics", {"period": "2024-12"}),
    # comparisons
    C("compare 2023 and 2024 revenue", "store_metrics", {"period": "2024", "compare": "last_year"}),
    C("revenue this month vs last year", "store_metrics", {"period": "2024-12", "compare": "last_year"}),
    C("how did november compare to october?", "store_metrics", {"period": "2024-11", "compare": "previous_period"}),
    C("sales this quarter vs last quarter", "store_metrics", {"period": "2024-Q4", "compare": "previous_period"}),
    C("is revenue up on last year?", "store_metrics", {"compare": "last_year"}),
    C("orders this year compared with last year", "store_metrics", {"period": "this_year", "compare": "last_year"}),
    C("revenue last 90 days vs the 90 days before", "store_metrics",
      {"period": "last_90_days", "compare": "previous_period"}),
    # breakdowns
    C("revenue by month", "store_metrics", {"breakdown": "month"}),
    C("monthly sales for 2024", "store_metrics", {"period": "2024", "breakdown": "month"}),
    C("weekly orders over the last 12 weeks", "store_metrics", {"period": "last_12_weeks", "breakdown": "week"}),
    C("sales by country", "store_metrics", {"breakdown": "country"}),
    C("revenue per quarter", "store_metrics", {"breakdown": "quarter"}),
    C("daily revenue last 30 days", "store_metrics", {"period": "last_30_days", "breakdown": "day"}),
    C("which country brings the most revenue", "store_metrics", {"breakdown": "country"}),
    C("revenue by archetype", "store_metrics", {"breakdown": "archetype"}),
    C("yearly revenue", "store_metrics", {"breakdown": "year"}),
    C("avg order value by month this year", "store_metrics", {"period": "this_year", "breakdown": "month"}),
    # who bought what
    C("how many customers bought pre-cuts?", "analyze_customers", {"bought": "pre-cut bundles"}),
    C("how many customers bought pre-cuts in 2024?", "analyze_customers", {"bought": "pre-cut bundles", "period": "2024"}),
    C("who bought the most kits?", "analyze_customers", {"bought": "kits"}),
    C("customers who bought batting last quarter", "analyze_customers", {"bought": "batting", "period": "last_quarter"}),
    C("which customers buy thread", "analyze_customers", {"bought": "thread"}),
    C("top buyers of wool felt", "analyze_customers", {"bought": "wool felt"}),
    # everyday questions the other tools answer
    C("best selling categories this year", "analyze_products", {"period": "this_year"}),
    C("what sells with batting", "analyze_products", {"bought_with": "batting"}),
    C("which products are bought together", "analyze_products"),
    C("revenue by category last month", "analyze_products", {"group_by": "category", "period": "2024-11"}),
    C("revenue forecast for next quarter", "forecast_metrics", {"metric": "revenue"}),
    C("will we get more orders next month", "forecast_metrics", {"metric": "orders"}),
    C("top 10 customers by revenue", "analyze_customers", {"sort_by": "value", "limit": 10}),
    C("which customers are about to churn?", "analyze_customers", {"lifecycle": "at_risk"}),
    C("how many vip customers do we have", "analyze_customers", {"value_tier": "vip"}),
    C("how many customers are at high risk", "analyze_customers", {"risk_level": "high"}),
    C("who should I target for a batting sale", "target_campaign"),
    C("win-back list for lapsed customers", "target_campaign", {"campaign": "win_back"}),
    C("which segments bring the most revenue", "analyze_segments"),
    C("which customers changed behaviour in the last 2 weeks", "analyze_behavior"),
    C("what do the bargain hunters buy", "analyze_products", {"archetype": "Bargain Hunters"}),
    C("tell me about C-1A2B3C4D", "lookup_customer", {"customer": "C-1A2B3C4D"}),
    C("what's the weather like", "refusal"),
]
