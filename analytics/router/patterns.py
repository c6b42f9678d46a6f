"""The offline router's intent phrases, matched on normalised, typo-corrected text."""
from __future__ import annotations

import re

def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


P_RECS = _rx(r"\b(recommend\w*|suggest\w*|next best|best action|next steps?|what (?:should|can|could|do) (?:we|i) (?:do|offer|give|send)|"
             r"how (?:do|can|should|could|would) (?:we|i) (?:keep|retain|save|win|handle|treat|approach|engage|re-?engage|grow|nurture|stop|deal)|"
             r"what (?:actions?|perks?|offers?)|actions? (?:for|to take)|compensat\w*|what discount|how much (?:discount|off|of a discount)|"
             r"which discount|discount tier|advice|advise|playbook|strateg(?:y|ies)|tips? (?:for|on)|ideas? (?:for|to)|what to do)\b")
P_FORECAST = _rx(r"\b(forecast\w*|predict(?:ion|ions|ed)?|project(?:ion|ions|ed)?|outlook|expect(?:ed)?|estimate[sd]?|trajectory|"
                 r"will (?:we|revenue|sales|orders|aov|it)|going to (?:make|sell|do|be|look)|next (?:quarter|month|year|week|\d+|few|half)|"
                 r"coming (?:weeks|months|quarter|year)|ahead|look like)\b")
P_CUSTOMER_LIST = _rx(r"\b(customers?|clients?|buyers|shoppers|people|who|whom|accounts|folks|anyone|whales?|vips?|regulars|names|list)\b")
P_CHURN = _rx(r"\b(churn\w*|at[- ]risk|risky|riskiest|risk|about to (?:leave|churn|lapse|go|quit)|likely to (?:leave|churn|lapse|stop)|leaving|slipping|"
              r"lapsing|lose|losing|flight risk|going quiet|disengag\w*|in danger)\b")
P_VALUE = _rx(r"\b(most valuable|best customers|top customers|top spenders|biggest spenders|big spenders|highest (?:spend|spending|spenders|value|ltv|clv|revenue)|"
              r"spent the most|spend the most|spend most|lifetime value|ltv|clv|whales?|vips?|most revenue|biggest customers|top buyers|best buyers|"
              r"by value|worth the most|most money|biggest)\b")
P_PREDICTED = _rx(r"\b(predicted (?:value|clv|ltv|spend)|future value|will (?:spend|buy|be worth|order) (?:the )?most|(?:next|coming) (?:12 months|year)'?s? (?:value|spend)|"
                  r"expected (?:value|spend|clv)|potential|most promising|will be (?:the )?most valuable)\b")
P_RECENCY = _rx(r"\b(not been back|ha(?:s|ve)n'?t been back|ha(?:s|ve)n'?t (?:ordered|bought|purchased|shopped|been back|come back)|not (?:ordered|bought|purchased|shopped)|longest (?:since|without)|"
                r"inactive|dormant|gone quiet|went quiet|since (?:their )?last order|recency|oldest last order|stopped (?:buying|ordering|shopping)|"
                r"longest time|ages|a while|a long time|most overdue|overdue)\b")
P_FREQUENCY = _rx(r"\b(most orders|most frequent|order(?:ed)? (?:the )?most|most often|frequent (?:buyers|shoppers|customers)|highest frequency|"
                  r"buy the most often|shop the most|regulars|by frequency|by (?:number of )?orders|order count)\b")
P_CAMPAIGN = _rx(r"\b(campaigns?|target(?:ing|ed)?|email blast|blast|newsletter|promo(?:tion)?s?|outreach|mailing|mailer|"
                 r"send (?:a |an )?(?:offer|coupon|discount|email|voucher|code)|who should (?:we|i) (?:email|contact|send|target|reach|call|mail|text)|"
                 r"who to (?:email|contact|target)|audience|list for|(?:retention|upsell|win[- ]?back|winback|seasonal|vip|reactivation) (?:list|targets?|selection|mailing)|win[- ]?back|winback|reactivat\w*|re-?engage\w*|emails? to)\b")
P_MOVES = _rx(r"\b(moved|move[sd]?|switch(?:ed|ing)?|changed (?:segment|segments|group|groups)|segment (?:moves|changes|switch\w*|migration)|"
              r"migrat\w*|shift(?:ed|s)?|behaviou?r(?:al)? (?:change|changes|shift)|behaviou?r changed|changed (?:behaviou?r|their)|"
              r"(?:changing|changed) (?:how|the way))\b")
P_DECLINING = _rx(r"\b(declin\w*|drop(?:ping|ped)? off|slow(?:ing|ed)? down|slowing|falling engagement|less engaged|engagement (?:drop|fall|is falling)|"
                  r"buying less|ordering less|cooling off|fading|waning|falling off)\b")
P_ONE_TIME = _rx(r"\b(one[- ]time|one[- ]off|only (?:ever )?(?:bought|ordered|purchased|shopped|buy) once|single[- ](?:order|purchase)|"
                 r"never (?:came back|returned|reordered|ordered again|bought again|come back)|just one order|1 order|first order only|"
                 r"didn'?t come back|once and never)\b")
P_DISCOUNT_DEP = _rx(r"\b(discount[- ]?(?:dependen\w*|depend\w*|addict\w*|hunters?|junkies?|driven|seekers?|reliant|reliance|shoppers?|buyers?)|"
                     r"only (?:buy|buys|shop|shops|order|orders|purchase) (?:on|with|during|when (?:there'?s|on)) (?:a )?(?:sale|discount|coupons?|promos?)|"
                     r"coupon (?:hunters?|users?|clippers?|dependen\w*)|deal seekers|need a discount|rely on (?:discounts|coupons)|hooked on (?:discounts|coupons)|"
                     r"dependen\w* on (?:discounts|coupons|promos))\b")
P_PRODUCTS = _rx(r"\b(products?|skus?|items?|categor(?:y|ies)|best[- ]?sellers?|best[- ]?selling|top[- ]?selling|sell(?:s|ing)? (?:best|most|well)|"
                 r"what sells|sold|selling|merch\w*|catalog(?:ue)?|repeat (?:purchase|rate|buy)|reorder\w*|bought together|buy together|"
                 r"basket analysis|fabrics?|kits?|inventory|stock|popular)\b")
P_SEGMENTS = _rx(r"\b(segments?|segmentation|clusters?|axis|axes|dimensions?)\b")
P_ARCHETYPE = _rx(r"\b(archetypes?|personas?|customer types?|types of (?:customers|shoppers|buyers)|kinds of (?:customers|shoppers|buyers)|"
                  r"customer profiles|profiles of our|who (?:are|is) our (?:customers|shoppers)|what (?:kind|kinds|type|types) of)\b")
P_COMPARE = _rx(r"\b(compare\w*|comparison|vs\.?|versus|difference between|differ\w*|against)\b")
P_CHANGES = _rx(r"\b(grew|grow(?:n|ing|th)?|shr[au]nk|shrink\w*|chang(?:e|ed|es|ing)|over time|trend\w*|bigger|smaller|since last (?:week|run|month)|evolv\w*)\b")
P_DETAIL = _rx(r"\b(in depth|in detail|detail(?:s|ed)?|deep ?dive|drill (?:down|into)|break ?down|breakdown|dig into|zoom in|stats|numbers on|metrics for)\b")
P_DESCRIBE = _rx(r"\b(tell me about|what (?:is|are)|what'?s|who (?:are|is)|describe|explain|info|about the|card|summary of|meaning of)\b")
P_DOMAIN = _rx(r"\b(customers?|clients?|buyers?|shoppers?|store|shop|orders?|sales|revenue|churn\w*|segments?|archetypes?|products?|"
               r"campaigns?|forecast\w*|value|spend\w*|discount\w*|risk|buy\w*|bought|sell\w*|sold|categor\w*|quarter|month)\b")
P_FOLLOWUP_START = _rx(r"^(and|also|what about|how about|same|now|ok(?:ay)?|then|only|just|but|plus|instead)\b")
P_REFERENTIAL = _rx(r"\b(them|those|these|they|that list|the same|same (?:for|but|thing|again|as before)|instead|as well|of them|among them)\b")
P_MORE = _rx(r"^(?:show |give me |load |see )?(?:some |the )?(?:more|next(?: page| \d+| ones)?|another (?:\d+|page|batch)|keep going|continue)\b")

P_WHAT_BUY = _rx(r"\bwhat (?:do|does|did|are|is) (?:the |our )?[\w'‹› -]{2,40}? (?:buy|buying|purchase|purchasing|order|ordering|get|getting)\b")

PRODUCT_SORTS = (
    ("repeat_rate", r"\b(repeat|reorder\w*|bought again|buy again|come back for|loyal)\b"),
    ("customers", r"\b(most customers|most buyers|most people|how many (?:customers|people|buyers)|widest reach|popular with|reach)\b"),
    ("orders", r"\b(most orders|number of orders|order count|most often|how often|most times|units|volume|ordered most)\b"),
)
FORECAST_MAX = {"days": 730, "weeks": 104, "months": 24}   # forecast_metrics' two-year reach
CAMPAIGN_OPTIONS = ["retention", "win_back", "upsell", "vip", "seasonal"]
# Questions about the people who bought something ('who bought the most kits', 'buyers of batting').
P_BUYERS = _rx(r"\b(customers?|who|whom|buyers?|people|shoppers|clients|anyone)\b[^.?]{0,40}?\b(bought|buys?|buying|"
               r"purchased|purchases?|ordered|orders?)\b|\b(buyers|purchasers|customers) of\b")
# Customers already gone ('lost', 'lapsed', 'churned'), as opposed to about to go.
P_LAPSED = _rx(r"\b(lapsed|churned|already (?:gone|left|churned)|(?:we(?:'ve)? |have )?lost(?! (?:money|revenue))|"
               r"gone for good|stopped buying (?:long|a long time|years) ago|dead|inactive for (?:a year|years|over a year))\b")
# Asking for the probability itself ranks by it, not by what is at stake.
P_PROBABILITY = _rx(r"\b(churn probabilit\w*|probability|likeliest|most likely|riskiest|highest (?:churn|risk))\b")
