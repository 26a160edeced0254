"""Small catalog and event files shared by the ingest tests."""

ITEMS_CSV = (
    "item_id,title,category,price,currency,in_stock,attributes\n"
    'mug-red,Red mug,Home > Kitchen > Mugs,8.5,eur,true,"{""color"": ""red""}"\n'
    "mug-blue,Blue mug, Home >Kitchen> Mugs ,8.5,EUR,yes,\n"
    "teapot,Glass teapot,Home > Kitchen > Tea,24,EUR,0,\n"
)

EVENTS_CSV = (
    "user_id,item_id,event_type,timestamp,session_id,value\n"
    "u1,mug-red,view,2023-11-15T10:00:00Z,s1,\n"
    "u1,mug-red,add_to_cart,2023-11-15 10:01:00,s1,1\n"
    "u1,mug-red,purchase,1700042460,s1,1\n"
    "u2,teapot,click,1700042460000,,\n"
)
